//! Number lookup API, shaped like the commercial lookup services, and the open-SMS number list.
