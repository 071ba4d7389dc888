//! The number plan: ranges of numbers with their country, network, line type, flags and prices.
//!
//! A carrier config describes its numbers as `[[ranges]]`, each selecting numbers in one of three
//! ways: an E.164 `prefix` (digits, `""` selects every number), an explicit `numbers` list, or a
//! `file` of numbers (one per line, relative to the config file's directory, blank lines and `#`
//! comments allowed). [`PlanConfig`] is the raw serde form; [`NumberPlan::build`] validates it
//! into an index that [`NumberPlan::lookup`] answers from.
//!
//! # Resolution rule
//!
//! For a number, the ranges that match it form a chain, most specific first:
//!
//! 1. the explicit range (from `numbers` or `file`) that lists it, if any: a listed number is more
//!    specific than any prefix (a number may be listed only once in the whole plan);
//! 2. then every prefix range whose prefix starts the number, longest prefix first (two ranges
//!    may not share a prefix, so the order is total).
//!
//! Each attribute comes from the first range in the chain that sets it; so an open-SMS list only
//! needs `numbers` and `open_sms = true` and takes its country, carrier and line type from the
//! enclosing prefix. Where no range in the chain sets an attribute, the built-in default applies:
//! line type `unknown`, every flag false, prices 0, carrier `"default"`, country/MCC/MNC and SIM
//! swap unknown (`None`). A number no range matches is outside the plan: `lookup` returns `None`.
//! The chain itself is returned as [`Resolved::chain`] (indices into `PlanConfig::ranges`), so
//! per-range settings kept elsewhere (behaviour overrides) can be merged in the same order.
//!
//! # Cost
//!
//! Memory is per range, not per number in a range: prefix ranges sit in one hash map per distinct
//! prefix length, probed longest first (at most 16 probes, since E.164 has at most 15 digits),
//! and their attributes are resolved once at build time. Listed numbers cost one map entry each,
//! pointing at an attribute set shared by every number with the same (list, enclosing prefix).
//! A plan with a 100-million-number prefix costs one entry; looking numbers up never grows it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Carrier name used where no range names one.
pub const DEFAULT_CARRIER: &str = "default";

// One number validator for the whole project (SMPP destinations, lookup, the plan, loadgen).
pub use smpp::number::{NumberError, parse_number, parse_prefix};

/// Destinations outside the number plan.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownNumbers {
    /// Refuse at submit with ESME_RINVDSTADR, as a carrier with no route does.
    Reject,
    /// Accept and treat as a reachable mobile on the submitting carrier.
    Accept,
}

/// The number plan as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// ISO 4217 code of every price in the plan.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// The ranges; see the module documentation for how they combine.
    #[serde(default)]
    pub ranges: Vec<RangeConfig>,
}

fn default_currency() -> String {
    "EUR".into()
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            currency: default_currency(),
            ranges: Vec::new(),
        }
    }
}

/// One `[[ranges]]` entry. Exactly one of `prefix`, `numbers`, `file` selects its numbers; every
/// other field is optional and, when absent, inherited from the next less specific range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeConfig {
    /// Label shown in errors and listings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E.164 digits every number of the range starts with (`""` matches every number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Explicit E.164 numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbers: Option<Vec<String>>,
    /// File of E.164 numbers, one per line, relative to the config file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// ISO 3166-1 alpha-2 country code, e.g. "GB".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Mobile country code (3 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc: Option<String>,
    /// Mobile network code (2 or 3 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnc: Option<String>,
    /// Name of the carrier that owns the numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// Line type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_type: Option<LineType>,
    /// Listed on public open-SMS websites. Only on `numbers` or `file` ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_sms: Option<bool>,
    /// Last SIM swap: a date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 date-time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim_swap: Option<String>,
    /// Last SIM swap this long before the simulator started (e.g. "2h"). Not with `sim_swap`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub sim_swap_ago: Option<Duration>,
    /// The number was ported from another network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ported: Option<bool>,
    /// The number was recently reassigned to a new subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recycled: Option<bool>,
    /// Absent subscriber: the handset is unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<bool>,
    /// Price per SMS part, in the plan currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_sms: Option<f64>,
    /// Price per started call minute, in the plan currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_call_minute: Option<f64>,
    /// SMS behaviour for numbers in this range (over the carrier's and the account's; a more
    /// specific range's override wins field by field). Not inherited as an attribute: it is
    /// merged along the chain, least specific first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behaviour: Option<crate::world::behaviour::BehaviourPatch>,
    /// Voice behaviour for numbers in this range, merged the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<crate::world::behaviour::VoicePatch>,
}

/// What kind of line a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineType {
    /// A mobile (cellular) number.
    Mobile,
    /// A fixed-line number.
    Landline,
    /// VoIP tied to a physical address.
    FixedVoip,
    /// VoIP anyone can obtain online; what fake-account bots use.
    NonFixedVoip,
    /// Free to the caller.
    TollFree,
    /// Premium rate: the caller (or sender) pays extra; what SMS pumping targets.
    Premium,
    /// Cost shared between caller and receiver.
    SharedCost,
    /// A pager.
    Pager,
    /// A voicemail access number.
    Voicemail,
    /// Not known.
    #[default]
    Unknown,
}

impl LineType {
    /// Every line type, in declaration order.
    pub const ALL: [LineType; 10] = [
        LineType::Mobile,
        LineType::Landline,
        LineType::FixedVoip,
        LineType::NonFixedVoip,
        LineType::TollFree,
        LineType::Premium,
        LineType::SharedCost,
        LineType::Pager,
        LineType::Voicemail,
        LineType::Unknown,
    ];

    /// The name commercial lookup APIs give the type (camelCase, e.g. `nonFixedVoip`).
    pub fn lookup_name(self) -> &'static str {
        match self {
            LineType::Mobile => "mobile",
            LineType::Landline => "landline",
            LineType::FixedVoip => "fixedVoip",
            LineType::NonFixedVoip => "nonFixedVoip",
            LineType::TollFree => "tollFree",
            LineType::Premium => "premium",
            LineType::SharedCost => "sharedCost",
            LineType::Pager => "pager",
            LineType::Voicemail => "voicemail",
            LineType::Unknown => "unknown",
        }
    }

    /// The name used in config files (snake_case, e.g. `non_fixed_voip`).
    pub fn config_name(self) -> &'static str {
        match self {
            LineType::Mobile => "mobile",
            LineType::Landline => "landline",
            LineType::FixedVoip => "fixed_voip",
            LineType::NonFixedVoip => "non_fixed_voip",
            LineType::TollFree => "toll_free",
            LineType::Premium => "premium",
            LineType::SharedCost => "shared_cost",
            LineType::Pager => "pager",
            LineType::Voicemail => "voicemail",
            LineType::Unknown => "unknown",
        }
    }

    /// Whether the line receives SMS.
    ///
    /// Landlines do not. Shared-cost and voicemail-access numbers are voice services and do not
    /// either. Toll-free numbers do (text-enabled toll-free is common in North America), premium
    /// numbers do (premium SMS is how SMS-pumping revenue is made, so a simulator must deliver to
    /// them), pagers do (they display text), VoIP numbers do. Unknown lines are given the benefit
    /// of the doubt, as a carrier that cannot classify a number still routes to it.
    pub fn takes_sms(self) -> bool {
        !matches!(
            self,
            LineType::Landline | LineType::SharedCost | LineType::Voicemail
        )
    }

    /// Whether a voice call to the line can be answered.
    ///
    /// Everything but pagers, which only display text.
    pub fn answers_calls(self) -> bool {
        !matches!(self, LineType::Pager)
    }
}

impl fmt::Display for LineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_name())
    }
}

/// Why a plan was refused: the dotted field path (`ranges[3].prefix`, 0-based), a message, and
/// for numbers read from a file, that file and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{field}: {message}", location(.file))]
pub struct PlanError {
    /// Dotted path of the offending field.
    pub field: String,
    /// What is wrong and, where useful, how to fix it.
    pub message: String,
    /// The numbers file and line the error is on.
    pub file: Option<(PathBuf, usize)>,
}

fn location(file: &Option<(PathBuf, usize)>) -> String {
    match file {
        Some((path, line)) => format!("{}:{line}: ", path.display()),
        None => String::new(),
    }
}

impl PlanError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            file: None,
        }
    }
}

/// How a range selects its numbers, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every number starting with these digits (`""`: every number).
    Prefix(String),
    /// An inline `numbers` list of this many numbers.
    Numbers {
        /// How many numbers the list holds.
        count: usize,
    },
    /// A numbers file (resolved path) holding this many numbers.
    File {
        /// The file, joined to the config directory.
        path: PathBuf,
        /// How many numbers it holds.
        count: usize,
    },
}

/// One range of a built plan, for introspection.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRange {
    /// Position in `PlanConfig::ranges`.
    pub index: usize,
    /// How it selects numbers.
    pub selector: Selector,
    /// The range as configured.
    pub config: RangeConfig,
}

impl PlanRange {
    /// `ranges[3]` or `ranges[3] ("alpha mobiles")`, as errors name ranges.
    #[cfg(test)]
    pub fn label(&self) -> String {
        range_label(self.index, self.config.name.as_deref())
    }
}

fn range_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("ranges[{index}] ({name:?})"),
        None => format!("ranges[{index}]"),
    }
}

/// Everything the plan says about one number.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// E.164 digits, without '+'.
    pub number: String,
    /// ISO 3166-1 alpha-2 country, if any range in the chain sets it.
    pub country: Option<Arc<str>>,
    /// Mobile country code, if set.
    pub mcc: Option<Arc<str>>,
    /// Mobile network code, if set.
    pub mnc: Option<Arc<str>>,
    /// Owning carrier (`"default"` if no range sets one).
    pub carrier: Arc<str>,
    /// Line type.
    pub line_type: LineType,
    /// Listed on public open-SMS websites.
    pub open_sms: bool,
    /// Time of the last SIM swap.
    pub sim_swap: Option<DateTime<Utc>>,
    /// Ported from another network.
    pub ported: bool,
    /// Recently reassigned.
    pub recycled: bool,
    /// Absent subscriber (unreachable).
    pub absent: bool,
    /// Price per SMS part, in the plan currency.
    pub price_sms: f64,
    /// Price per call minute, in the plan currency.
    pub price_call_minute: f64,
    /// Indices into `PlanConfig::ranges` of the ranges that matched, most specific first.
    pub chain: Arc<[usize]>,
}

/// Sizes of a plan's index: what its memory grows with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Prefix entries (one per prefix range).
    pub prefixes: usize,
    /// Distinct prefix lengths (hash probes per miss on the explicit list).
    pub prefix_lengths: usize,
    /// Listed numbers (one entry each).
    pub listed_numbers: usize,
    /// Distinct resolved attribute sets (shared between numbers).
    pub attribute_sets: usize,
}

/// A range's own attributes, validated; `None` means inherit.
#[derive(Debug, Clone, Default)]
struct Partial {
    country: Option<Arc<str>>,
    mcc: Option<Arc<str>>,
    mnc: Option<Arc<str>>,
    carrier: Option<Arc<str>>,
    line_type: Option<LineType>,
    open_sms: Option<bool>,
    sim_swap: Option<DateTime<Utc>>,
    ported: Option<bool>,
    recycled: Option<bool>,
    absent: Option<bool>,
    price_sms: Option<f64>,
    price_call_minute: Option<f64>,
}

/// Fully resolved attributes of a chain; shared by every number the chain applies to.
#[derive(Debug)]
struct Attrs {
    country: Option<Arc<str>>,
    mcc: Option<Arc<str>>,
    mnc: Option<Arc<str>>,
    carrier: Arc<str>,
    line_type: LineType,
    open_sms: bool,
    sim_swap: Option<DateTime<Utc>>,
    ported: bool,
    recycled: bool,
    absent: bool,
    price_sms: f64,
    price_call_minute: f64,
    chain: Arc<[usize]>,
}

impl Attrs {
    /// The built-in defaults, below every range.
    fn root() -> Self {
        Self {
            country: None,
            mcc: None,
            mnc: None,
            carrier: Arc::from(DEFAULT_CARRIER),
            line_type: LineType::Unknown,
            open_sms: false,
            sim_swap: None,
            ported: false,
            recycled: false,
            absent: false,
            price_sms: 0.0,
            price_call_minute: 0.0,
            chain: Arc::from(Vec::new()),
        }
    }

    /// Range `index` with attributes `own`, on top of the (resolved) less specific chain `self`.
    fn overlay(&self, index: usize, own: &Partial) -> Self {
        let chain: Vec<usize> = std::iter::once(index)
            .chain(self.chain.iter().copied())
            .collect();
        Self {
            country: own.country.clone().or_else(|| self.country.clone()),
            mcc: own.mcc.clone().or_else(|| self.mcc.clone()),
            mnc: own.mnc.clone().or_else(|| self.mnc.clone()),
            carrier: own.carrier.clone().unwrap_or_else(|| self.carrier.clone()),
            line_type: own.line_type.unwrap_or(self.line_type),
            open_sms: own.open_sms.unwrap_or(self.open_sms),
            sim_swap: own.sim_swap.or(self.sim_swap),
            ported: own.ported.unwrap_or(self.ported),
            recycled: own.recycled.unwrap_or(self.recycled),
            absent: own.absent.unwrap_or(self.absent),
            price_sms: own.price_sms.unwrap_or(self.price_sms),
            price_call_minute: own.price_call_minute.unwrap_or(self.price_call_minute),
            chain: Arc::from(chain),
        }
    }

    fn resolve(&self, number: &str) -> Resolved {
        Resolved {
            number: number.to_string(),
            country: self.country.clone(),
            mcc: self.mcc.clone(),
            mnc: self.mnc.clone(),
            carrier: self.carrier.clone(),
            line_type: self.line_type,
            open_sms: self.open_sms,
            sim_swap: self.sim_swap,
            ported: self.ported,
            recycled: self.recycled,
            absent: self.absent,
            price_sms: self.price_sms,
            price_call_minute: self.price_call_minute,
            chain: self.chain.clone(),
        }
    }
}

/// Where a listed number was first seen, to name both places in a duplicate error.
#[derive(Debug, Clone)]
enum Listed {
    Inline { range: usize, pos: usize },
    File { range: usize, line: usize },
}

impl Listed {
    fn range(&self) -> usize {
        match self {
            Listed::Inline { range, .. } | Listed::File { range, .. } => *range,
        }
    }

    fn describe(&self, ranges: &[PlanRange]) -> String {
        match self {
            Listed::Inline { range, pos } => format!("ranges[{range}].numbers[{pos}]"),
            Listed::File { range, line } => match ranges.get(*range).map(|r| &r.selector) {
                Some(Selector::File { path, .. }) => {
                    format!("{}:{line} (ranges[{range}].file)", path.display())
                }
                _ => format!("line {line} of ranges[{range}].file"),
            },
        }
    }
}

/// Prefixes of one length and their resolved attributes.
type PrefixMap = (usize, HashMap<Box<str>, Arc<Attrs>>);

/// The validated, indexed number plan.
#[derive(Debug)]
pub struct NumberPlan {
    currency: String,
    ranges: Vec<PlanRange>,
    /// Prefix index: one map per distinct prefix length, longest first.
    prefixes: Vec<PrefixMap>,
    /// Listed numbers, each pointing at a shared attribute set.
    listed: HashMap<Box<str>, Arc<Attrs>>,
    /// Open-SMS numbers, sorted.
    open_sms: Vec<Box<str>>,
    attribute_sets: usize,
}

impl NumberPlan {
    /// Validates `cfg` and builds the index. `base_dir` is the directory `file` paths are relative
    /// to (the config file's); `started` is when the simulator started (for `sim_swap_ago`).
    pub fn build(
        cfg: &PlanConfig,
        base_dir: &Path,
        started: DateTime<Utc>,
    ) -> Result<NumberPlan, PlanError> {
        validate_currency(&cfg.currency)?;
        let mut ranges = Vec::with_capacity(cfg.ranges.len());
        let mut partials = Vec::with_capacity(cfg.ranges.len());
        // Range index by prefix digits, to refuse a second range with the same prefix.
        let mut prefix_owner: HashMap<Box<str>, usize> = HashMap::new();
        let mut listed: HashMap<Box<str>, Listed> = HashMap::new();

        for (i, range) in cfg.ranges.iter().enumerate() {
            let partial = validate_attributes(i, range, started)?;
            let selector = match (&range.prefix, &range.numbers, &range.file) {
                (Some(prefix), None, None) => {
                    if partial.open_sms == Some(true) {
                        return Err(PlanError::new(
                            format!("ranges[{i}].open_sms"),
                            "open_sms is only allowed on `numbers` or `file` ranges: open-SMS \
                             websites list individual numbers, and a prefix can hold millions",
                        ));
                    }
                    let digits = parse_prefix(prefix).map_err(|e| {
                        PlanError::new(format!("ranges[{i}].prefix"), e.to_string())
                    })?;
                    if let Some(&other) = prefix_owner.get(digits) {
                        return Err(PlanError::new(
                            format!("ranges[{i}].prefix"),
                            format!(
                                "prefix \"{digits}\" is already the prefix of {}: two ranges with \
                                 the same prefix overlap exactly; merge them or make one longer",
                                range_label(other, cfg.ranges[other].name.as_deref())
                            ),
                        ));
                    }
                    prefix_owner.insert(digits.into(), i);
                    Selector::Prefix(digits.to_string())
                }
                (None, Some(numbers), None) => {
                    if numbers.is_empty() {
                        return Err(PlanError::new(
                            format!("ranges[{i}].numbers"),
                            "lists no number: list at least one, or remove the range",
                        ));
                    }
                    for (pos, number) in numbers.iter().enumerate() {
                        let field = format!("ranges[{i}].numbers[{pos}]");
                        let digits = parse_number(number)
                            .map_err(|e| PlanError::new(&field, e.to_string()))?;
                        if let Some(first) = listed.get(digits) {
                            return Err(PlanError::new(
                                field,
                                duplicate_message(digits, first, &ranges, &cfg.ranges),
                            ));
                        }
                        listed.insert(digits.into(), Listed::Inline { range: i, pos });
                    }
                    Selector::Numbers {
                        count: numbers.len(),
                    }
                }
                (None, None, Some(file)) => {
                    let path = base_dir.join(file);
                    let count = read_numbers_file(i, &path, &mut listed, &ranges, &cfg.ranges)?;
                    Selector::File { path, count }
                }
                (prefix, numbers, file) => {
                    let set: Vec<&str> = [
                        prefix.as_ref().map(|_| "prefix"),
                        numbers.as_ref().map(|_| "numbers"),
                        file.as_ref().map(|_| "file"),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    let found = if set.is_empty() {
                        "none is set".to_string()
                    } else {
                        format!("{} are set", set.join(" and "))
                    };
                    return Err(PlanError::new(
                        format!("ranges[{i}]"),
                        format!(
                            "{}: set exactly one of `prefix`, `numbers` or `file` ({found})",
                            range_label(i, range.name.as_deref())
                        ),
                    ));
                }
            };
            ranges.push(PlanRange {
                index: i,
                selector,
                config: range.clone(),
            });
            partials.push(partial);
        }

        let listed = listed
            .into_iter()
            .map(|(number, first)| (number, first.range()))
            .collect();
        Ok(Self::assemble(
            cfg.currency.clone(),
            ranges,
            &partials,
            listed,
        ))
    }

    /// The plan used when there is no config: every number is a reachable mobile on `carrier`.
    pub fn everything_mobile(carrier: &str) -> NumberPlan {
        let config = RangeConfig {
            name: Some("every number".into()),
            prefix: Some(String::new()),
            carrier: Some(carrier.to_string()),
            line_type: Some(LineType::Mobile),
            ..RangeConfig::default()
        };
        let partial = Partial {
            carrier: Some(Arc::from(carrier)),
            line_type: Some(LineType::Mobile),
            ..Partial::default()
        };
        let ranges = vec![PlanRange {
            index: 0,
            selector: Selector::Prefix(String::new()),
            config,
        }];
        Self::assemble(default_currency(), ranges, &[partial], HashMap::new())
    }

    /// Builds the index from validated ranges. `listed` maps each listed number to its range.
    fn assemble(
        currency: String,
        ranges: Vec<PlanRange>,
        partials: &[Partial],
        listed: HashMap<Box<str>, usize>,
    ) -> NumberPlan {
        let root = Attrs::root();
        let mut attribute_sets = 0;

        // Prefix ranges, shortest first, so each one's less specific chain is already resolved.
        let mut by_len: Vec<(usize, Vec<(&str, usize)>)> = Vec::new();
        for range in &ranges {
            if let Selector::Prefix(p) = &range.selector {
                match by_len.iter_mut().find(|(len, _)| *len == p.len()) {
                    Some((_, v)) => v.push((p, range.index)),
                    None => by_len.push((p.len(), vec![(p, range.index)])),
                }
            }
        }
        by_len.sort_by_key(|(len, _)| *len);
        let mut prefixes: Vec<PrefixMap> = Vec::new();
        for (len, entries) in by_len {
            let mut map = HashMap::with_capacity(entries.len());
            for (prefix, index) in entries {
                // `prefixes` is shortest first here; the parent is the longest shorter match.
                let parent = prefixes
                    .iter()
                    .rev()
                    .find_map(|(l, m)| m.get(&prefix[..*l]))
                    .map_or(&root, |a| &**a);
                map.insert(
                    Box::from(prefix),
                    Arc::new(parent.overlay(index, &partials[index])),
                );
                attribute_sets += 1;
            }
            prefixes.push((len, map));
        }
        prefixes.reverse();

        // Listed numbers share one attribute set per (list, enclosing prefix range).
        let mut shared: HashMap<(usize, Option<usize>), Arc<Attrs>> = HashMap::new();
        let mut open_sms = Vec::new();
        let listed: HashMap<Box<str>, Arc<Attrs>> = listed
            .into_iter()
            .map(|(number, index)| {
                let parent = longest_prefix(&prefixes, &number);
                let key = (index, parent.and_then(|a| a.chain.first().copied()));
                let attrs = shared
                    .entry(key)
                    .or_insert_with(|| {
                        Arc::new(
                            parent
                                .map_or(&root, |a| &**a)
                                .overlay(index, &partials[index]),
                        )
                    })
                    .clone();
                if attrs.open_sms {
                    open_sms.push(number.clone());
                }
                (number, attrs)
            })
            .collect();
        attribute_sets += shared.len();
        open_sms.sort();

        NumberPlan {
            currency,
            ranges,
            prefixes,
            listed,
            open_sms,
            attribute_sets,
        }
    }

    /// What the plan says about `number` (E.164, with or without '+'); `None` when the number is
    /// malformed or outside the plan (use [`parse_number`] first to tell the two apart).
    pub fn lookup(&self, number: &str) -> Option<Resolved> {
        let digits = parse_number(number).ok()?;
        self.listed
            .get(digits)
            .or_else(|| longest_prefix(&self.prefixes, digits))
            .map(|attrs| attrs.resolve(digits))
    }

    /// The open-SMS numbers of the plan, sorted by number.
    pub fn open_sms_numbers(&self) -> Vec<Resolved> {
        self.open_sms
            .iter()
            .filter_map(|n| self.listed.get(n).map(|attrs| attrs.resolve(n)))
            .collect()
    }

    /// The ranges, in config order (`ranges()[i].index == i`).
    pub fn ranges(&self) -> &[PlanRange] {
        &self.ranges
    }

    /// ISO 4217 code of the plan's prices.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// Sizes of the index.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            prefixes: self.prefixes.iter().map(|(_, m)| m.len()).sum(),
            prefix_lengths: self.prefixes.len(),
            listed_numbers: self.listed.len(),
            attribute_sets: self.attribute_sets,
        }
    }
}

/// The attributes of the longest prefix in `prefixes` (longest first) that starts `digits`.
fn longest_prefix<'a>(prefixes: &'a [PrefixMap], digits: &str) -> Option<&'a Arc<Attrs>> {
    prefixes
        .iter()
        .filter(|(len, _)| *len <= digits.len())
        .find_map(|(len, map)| map.get(&digits[..*len]))
}

fn duplicate_message(
    digits: &str,
    first: &Listed,
    ranges: &[PlanRange],
    configs: &[RangeConfig],
) -> String {
    let first_range = first.range();
    let name = configs.get(first_range).and_then(|r| r.name.as_deref());
    let owner = range_label(first_range, name);
    format!(
        "number {digits} is listed twice: first at {} in {owner}; a number may be listed once",
        first.describe(ranges)
    )
}

/// Reads a numbers file into `listed`; returns how many numbers it holds.
fn read_numbers_file(
    index: usize,
    path: &Path,
    listed: &mut HashMap<Box<str>, Listed>,
    ranges: &[PlanRange],
    configs: &[RangeConfig],
) -> Result<usize, PlanError> {
    let field = format!("ranges[{index}].file");
    let text = std::fs::read_to_string(path)
        .map_err(|e| PlanError::new(&field, format!("cannot read {}: {e}", path.display())))?;
    let mut count = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let at = |message: String| PlanError {
            field: field.clone(),
            message,
            file: Some((path.to_path_buf(), line)),
        };
        let digits = parse_number(content).map_err(|e| at(e.to_string()))?;
        if let Some(first) = listed.get(digits) {
            // The range being read is not in `ranges` yet; name it by its file.
            let message = match first {
                Listed::File {
                    range,
                    line: first_line,
                } if *range == index => format!(
                    "number {digits} is listed twice: first at line {first_line} of this file; \
                     a number may be listed once"
                ),
                _ => duplicate_message(digits, first, ranges, configs),
            };
            return Err(at(message));
        }
        listed.insert(digits.into(), Listed::File { range: index, line });
        count += 1;
    }
    Ok(count)
}

fn validate_currency(currency: &str) -> Result<(), PlanError> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(PlanError::new(
            "currency",
            format!("{currency:?} is not an ISO 4217 code (three uppercase letters, e.g. \"EUR\")"),
        ))
    }
}

/// Checks a range's own attributes (everything but its selector).
fn validate_attributes(
    i: usize,
    range: &RangeConfig,
    started: DateTime<Utc>,
) -> Result<Partial, PlanError> {
    let field = |name: &str| format!("ranges[{i}].{name}");
    let country = match &range.country {
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
            Some(Arc::from(&**c))
        }
        Some(c) => {
            return Err(PlanError::new(
                field("country"),
                format!(
                    "{c:?} is not an ISO 3166-1 alpha-2 code (two uppercase letters, e.g. \"GB\")"
                ),
            ));
        }
        None => None,
    };
    let digits_field = |name: &str, value: &Option<String>, lens: &[usize], what: &str| match value
    {
        Some(v) if lens.contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(Arc::<str>::from(&**v)))
        }
        Some(v) => Err(PlanError::new(field(name), format!("{v:?} is not {what}"))),
        None => Ok(None),
    };
    let mcc = digits_field("mcc", &range.mcc, &[3], "a mobile country code (3 digits)")?;
    let mnc = digits_field(
        "mnc",
        &range.mnc,
        &[2, 3],
        "a mobile network code (2 or 3 digits)",
    )?;
    let carrier = match &range.carrier {
        Some(c) if c.trim().is_empty() => {
            return Err(PlanError::new(field("carrier"), "must not be empty"));
        }
        Some(c) => Some(Arc::from(&**c)),
        None => None,
    };
    let sim_swap = match (&range.sim_swap, range.sim_swap_ago) {
        (Some(_), Some(_)) => {
            return Err(PlanError::new(
                field("sim_swap_ago"),
                "set either sim_swap (a date) or sim_swap_ago (a duration), not both",
            ));
        }
        (Some(text), None) => Some(
            parse_swap_date(text).map_err(|message| PlanError::new(field("sim_swap"), message))?,
        ),
        (None, Some(ago)) => {
            let at = chrono::TimeDelta::from_std(ago)
                .ok()
                .and_then(|d| started.checked_sub_signed(d))
                .ok_or_else(|| {
                    PlanError::new(field("sim_swap_ago"), format!("{ago:?} is too long ago"))
                })?;
            Some(at)
        }
        (None, None) => None,
    };
    let price = |name: &str, value: Option<f64>| match value {
        Some(p) if !p.is_finite() || p < 0.0 => Err(PlanError::new(
            field(name),
            format!("{p} is not a price: prices are finite and not negative"),
        )),
        other => Ok(other),
    };
    Ok(Partial {
        country,
        mcc,
        mnc,
        carrier,
        line_type: range.line_type,
        open_sms: range.open_sms,
        sim_swap,
        ported: range.ported,
        recycled: range.recycled,
        absent: range.absent,
        price_sms: price("price_sms", range.price_sms)?,
        price_call_minute: price("price_call_minute", range.price_call_minute)?,
    })
}

/// A `YYYY-MM-DD` date (midnight UTC) or an RFC 3339 date-time.
fn parse_swap_date(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "{text:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time \
                 (e.g. 2026-11-20T08:30:00Z): {e}"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> DateTime<Utc> {
        "2026-06-01T12:00:00Z".parse().expect("time")
    }

    fn parse(text: &str) -> PlanConfig {
        toml::from_str(text).expect("plan parses")
    }

    fn build(text: &str) -> Result<NumberPlan, PlanError> {
        NumberPlan::build(&parse(text), Path::new("."), started())
    }

    fn plan(text: &str) -> NumberPlan {
        build(text).expect("plan builds")
    }

    fn refused(text: &str) -> PlanError {
        build(text).expect_err("plan is refused")
    }

    /// A fresh directory for numbers files.
    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("simulator-plan-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    const FULL: &str = r#"
        currency = "GBP"
        [[ranges]]
        name = "alpha mobiles"
        prefix = "+447700900"
        country = "GB"
        mcc = "234"
        mnc = "10"
        carrier = "alpha"
        line_type = "mobile"
        sim_swap = "2026-05-20"
        ported = true
        recycled = false
        absent = true
        price_sms = 0.05
        price_call_minute = 0.02

        [[ranges]]
        numbers = ["447700900555", "+447700900556"]
        open_sms = true
        sim_swap_ago = "2h"

        [[ranges]]
        file = "open-sms.txt"
        open_sms = false
    "#;

    #[test]
    fn parses_every_field() {
        let cfg = parse(FULL);
        assert_eq!(cfg.currency, "GBP");
        let r = &cfg.ranges[0];
        assert_eq!(r.name.as_deref(), Some("alpha mobiles"));
        assert_eq!(r.prefix.as_deref(), Some("+447700900"));
        assert_eq!(r.country.as_deref(), Some("GB"));
        assert_eq!(r.mcc.as_deref(), Some("234"));
        assert_eq!(r.mnc.as_deref(), Some("10"));
        assert_eq!(r.carrier.as_deref(), Some("alpha"));
        assert_eq!(r.line_type, Some(LineType::Mobile));
        assert_eq!(r.sim_swap.as_deref(), Some("2026-05-20"));
        assert_eq!(r.ported, Some(true));
        assert_eq!(r.recycled, Some(false));
        assert_eq!(r.absent, Some(true));
        assert_eq!(r.price_sms, Some(0.05));
        assert_eq!(r.price_call_minute, Some(0.02));
        let r = &cfg.ranges[1];
        assert_eq!(
            r.numbers.as_deref(),
            Some(&["447700900555".to_string(), "+447700900556".to_string()][..])
        );
        assert_eq!(r.open_sms, Some(true));
        assert_eq!(r.sim_swap_ago, Some(Duration::from_secs(7200)));
        assert_eq!(
            cfg.ranges[2].file.as_deref(),
            Some(Path::new("open-sms.txt"))
        );
        assert_eq!(cfg.ranges[2].open_sms, Some(false));

        // Serialize gives back a file that reads the same.
        let text = toml::to_string(&cfg).expect("serializes");
        assert_eq!(parse(&text), cfg);
    }

    #[test]
    fn currency_defaults_to_eur_and_ranges_to_none() {
        let cfg = parse("");
        assert_eq!(cfg, PlanConfig::default());
        assert_eq!(cfg.currency, "EUR");
        assert!(cfg.ranges.is_empty());
        let plan = NumberPlan::build(&cfg, Path::new("."), started()).expect("builds");
        assert_eq!(plan.currency(), "EUR");
        assert_eq!(plan.lookup("447700900123"), None);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<PlanConfig>("[[ranges]]\nprefix = \"44\"\ncolour = \"red\"\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("colour"), "{err}");
        let err = toml::from_str::<PlanConfig>("curency = \"EUR\"\n").expect_err("unknown key");
        assert!(err.to_string().contains("curency"), "{err}");
    }

    #[test]
    fn every_line_type_parses_and_has_lookup_name() {
        let names = [
            ("mobile", "mobile"),
            ("landline", "landline"),
            ("fixed_voip", "fixedVoip"),
            ("non_fixed_voip", "nonFixedVoip"),
            ("toll_free", "tollFree"),
            ("premium", "premium"),
            ("shared_cost", "sharedCost"),
            ("pager", "pager"),
            ("voicemail", "voicemail"),
            ("unknown", "unknown"),
        ];
        for ((config, lookup), expected) in names.iter().zip(LineType::ALL) {
            let cfg = parse(&format!(
                "[[ranges]]\nprefix = \"1\"\nline_type = \"{config}\"\n"
            ));
            assert_eq!(cfg.ranges[0].line_type, Some(expected));
            assert_eq!(expected.lookup_name(), *lookup);
            assert_eq!(expected.config_name(), *config);
            assert_eq!(expected.to_string(), *config);
        }
        assert!(
            toml::from_str::<PlanConfig>("[[ranges]]\nprefix = \"1\"\nline_type = \"satellite\"\n")
                .is_err()
        );
    }

    #[test]
    fn sms_and_call_capabilities() {
        assert!(LineType::Mobile.takes_sms());
        assert!(!LineType::Landline.takes_sms());
        assert!(LineType::Landline.answers_calls());
        assert!(!LineType::SharedCost.takes_sms());
        assert!(!LineType::Voicemail.takes_sms());
        assert!(LineType::Voicemail.answers_calls());
        assert!(LineType::TollFree.takes_sms());
        assert!(LineType::Premium.takes_sms());
        assert!(LineType::NonFixedVoip.takes_sms());
        assert!(LineType::FixedVoip.takes_sms());
        assert!(LineType::Pager.takes_sms());
        assert!(!LineType::Pager.answers_calls());
        assert!(LineType::Unknown.takes_sms());
        assert!(LineType::Unknown.answers_calls());
    }

    #[test]
    fn each_validation_error_names_its_field() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "[[ranges]]\nprefix = \"44\"\n[[ranges]]\nname = \"b\"\nprefix = \"+44\"\n",
                "ranges[1].prefix",
                "prefix \"44\" is already the prefix of ranges[0]",
            ),
            (
                "[[ranges]]\nname = \"a\"\nnumbers = [\"4470\"]\n[[ranges]]\nnumbers = [\"+4470\"]\n",
                "ranges[1].numbers[0]",
                "number 4470 is listed twice: first at ranges[0].numbers[0] in ranges[0] (\"a\")",
            ),
            (
                "[[ranges]]\nnumbers = [\"4470\", \"4471\", \"4470\"]\n",
                "ranges[0].numbers[2]",
                "listed twice",
            ),
            (
                "[[ranges]]\nname = \"x\"\ncountry = \"GB\"\n",
                "ranges[0]",
                "ranges[0] (\"x\"): set exactly one of `prefix`, `numbers` or `file` (none is set)",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nnumbers = [\"4470\"]\n",
                "ranges[0]",
                "(prefix and numbers are set)",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nopen_sms = true\n",
                "ranges[0].open_sms",
                "only allowed on `numbers` or `file` ranges",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nsim_swap = \"2026-01-01\"\nsim_swap_ago = \"1h\"\n",
                "ranges[0].sim_swap_ago",
                "not both",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nsim_swap = \"yesterday\"\n",
                "ranges[0].sim_swap",
                "neither a date (YYYY-MM-DD) nor an RFC 3339 date-time",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nprice_sms = -0.01\n",
                "ranges[0].price_sms",
                "-0.01 is not a price",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nprice_call_minute = -1.0\n",
                "ranges[0].price_call_minute",
                "not negative",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nprice_sms = nan\n",
                "ranges[0].price_sms",
                "finite",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\ncountry = \"gb\"\n",
                "ranges[0].country",
                "\"gb\" is not an ISO 3166-1 alpha-2 code",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\ncountry = \"GBR\"\n",
                "ranges[0].country",
                "two uppercase letters",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nmcc = \"23\"\n",
                "ranges[0].mcc",
                "\"23\" is not a mobile country code (3 digits)",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nmcc = \"23a\"\n",
                "ranges[0].mcc",
                "3 digits",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nmnc = \"1\"\n",
                "ranges[0].mnc",
                "\"1\" is not a mobile network code (2 or 3 digits)",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\nmnc = \"1234\"\n",
                "ranges[0].mnc",
                "2 or 3 digits",
            ),
            (
                "[[ranges]]\nprefix = \"44-77\"\n",
                "ranges[0].prefix",
                "\"44-77\" is not an E.164 number: only digits are allowed, with an optional leading '+' (found '-')",
            ),
            (
                "[[ranges]]\nprefix = \"1234567890123456\"\n",
                "ranges[0].prefix",
                "has 16 digits; E.164 allows at most 15",
            ),
            (
                "[[ranges]]\nnumbers = [\"4470\", \"447700 900\"]\n",
                "ranges[0].numbers[1]",
                "found ' '",
            ),
            (
                "[[ranges]]\nnumbers = [\"+\"]\n",
                "ranges[0].numbers[0]",
                "is empty",
            ),
            (
                "[[ranges]]\nnumbers = []\n",
                "ranges[0].numbers",
                "lists no number",
            ),
            (
                "[[ranges]]\nprefix = \"44\"\ncarrier = \" \"\n",
                "ranges[0].carrier",
                "must not be empty",
            ),
            ("currency = \"euro\"\n", "currency", "not an ISO 4217 code"),
        ];
        for (text, field, message) in cases {
            let err = refused(text);
            assert_eq!(err.field, *field, "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
            assert_eq!(err.file, None);
            assert_eq!(err.to_string(), format!("{}: {}", err.field, err.message));
        }
    }

    #[test]
    fn longest_prefix_wins_and_explicit_beats_prefix() {
        let plan = plan(
            r#"
            [[ranges]]
            prefix = ""
            carrier = "world"
            [[ranges]]
            prefix = "44"
            carrier = "uk"
            [[ranges]]
            prefix = "447700"
            carrier = "alpha"
            [[ranges]]
            numbers = ["447700900555", "4420"]
            carrier = "listed"
            "#,
        );
        assert_eq!(&*plan.lookup("1555").expect("in plan").carrier, "world");
        assert_eq!(&*plan.lookup("4420794").expect("in plan").carrier, "uk");
        assert_eq!(
            &*plan.lookup("447700123").expect("in plan").carrier,
            "alpha"
        );
        assert_eq!(
            &*plan.lookup("447700900555").expect("in plan").carrier,
            "listed"
        );
        // A listed number is exactly that number: its extensions fall back to the prefixes.
        assert_eq!(&*plan.lookup("44209").expect("in plan").carrier, "uk");
        assert_eq!(&*plan.lookup("4420").expect("in plan").carrier, "listed");
        // The prefix itself is a number of its range.
        assert_eq!(&*plan.lookup("447700").expect("in plan").carrier, "alpha");
        assert_eq!(
            &plan.lookup("447700900555").expect("in plan").chain[..],
            &[3, 2, 1, 0]
        );
        assert_eq!(
            &plan.lookup("447700123").expect("in plan").chain[..],
            &[2, 1, 0]
        );
        assert_eq!(&plan.lookup("1").expect("in plan").chain[..], &[0]);
    }

    #[test]
    fn unset_attributes_are_inherited_from_less_specific_ranges() {
        let plan = plan(
            r#"
            [[ranges]]
            prefix = "44"
            country = "GB"
            price_sms = 0.04
            price_call_minute = 0.01
            [[ranges]]
            prefix = "447700"
            mcc = "234"
            mnc = "10"
            carrier = "alpha"
            line_type = "mobile"
            ported = true
            [[ranges]]
            numbers = ["447700900555"]
            open_sms = true
            price_sms = 0.0
            "#,
        );
        let r = plan.lookup("+447700900555").expect("in plan");
        assert_eq!(r.number, "447700900555");
        assert_eq!(r.country.as_deref(), Some("GB"));
        assert_eq!(r.mcc.as_deref(), Some("234"));
        assert_eq!(r.mnc.as_deref(), Some("10"));
        assert_eq!(&*r.carrier, "alpha");
        assert_eq!(r.line_type, LineType::Mobile);
        assert!(r.open_sms);
        assert!(r.ported);
        assert!(!r.recycled);
        assert!(!r.absent);
        // Set to 0 on the list: a set value wins even when it equals the default.
        assert_eq!(r.price_sms, 0.0);
        assert_eq!(r.price_call_minute, 0.01);
        assert_eq!(&r.chain[..], &[2, 1, 0]);

        let r = plan.lookup("447700111111").expect("in plan");
        assert!(!r.open_sms);
        assert_eq!(r.price_sms, 0.04);
        assert_eq!(r.country.as_deref(), Some("GB"));
    }

    #[test]
    fn built_in_defaults_and_outside_the_plan() {
        let plan = plan("[[ranges]]\nprefix = \"882\"\n[[ranges]]\nnumbers = [\"15550001\"]\n");
        for number in ["88212345", "15550001"] {
            let r = plan.lookup(number).expect("in plan");
            assert_eq!(r.line_type, LineType::Unknown);
            assert_eq!(&*r.carrier, DEFAULT_CARRIER);
            assert_eq!(r.country, None);
            assert_eq!(r.mcc, None);
            assert_eq!(r.mnc, None);
            assert_eq!(r.sim_swap, None);
            assert!(!r.open_sms && !r.ported && !r.recycled && !r.absent);
            assert_eq!((r.price_sms, r.price_call_minute), (0.0, 0.0));
        }
        assert_eq!(plan.lookup("15550002"), None);
        assert_eq!(plan.lookup("44"), None);
        assert_eq!(plan.lookup("88"), None, "shorter than the prefix");
        assert_eq!(plan.lookup("882abc"), None, "malformed");
        assert_eq!(plan.lookup(""), None);
        assert_eq!(plan.lookup("8821234567890123"), None, "16 digits");
    }

    #[test]
    fn sim_swap_dates_and_durations() {
        let plan = plan(
            r#"
            [[ranges]]
            prefix = "1"
            sim_swap = "2026-05-20"
            [[ranges]]
            prefix = "2"
            sim_swap = "2026-05-31T10:30:00+02:00"
            [[ranges]]
            prefix = "3"
            sim_swap_ago = "2h 30m"
            [[ranges]]
            numbers = ["11"]
            "#,
        );
        let at = |n: &str| plan.lookup(n).expect("in plan").sim_swap;
        assert_eq!(
            at("15"),
            Some("2026-05-20T00:00:00Z".parse().expect("time"))
        );
        assert_eq!(at("11"), at("15"), "inherited by the list");
        assert_eq!(
            at("25"),
            Some("2026-05-31T08:30:00Z".parse().expect("time"))
        );
        assert_eq!(
            at("35"),
            Some("2026-06-01T09:30:00Z".parse().expect("time"))
        );
    }

    #[test]
    fn numbers_file_with_comments_blank_lines_and_plus() {
        let dir = temp_dir("good-file");
        std::fs::write(
            dir.join("open-sms.txt"),
            "# numbers published on receive-sms sites\n\n+447700900555\n447700900001  # note\r\n   \n447700900002\n",
        )
        .expect("write");
        let cfg = parse(
            r#"
            [[ranges]]
            prefix = "447700900"
            country = "GB"
            carrier = "alpha"
            line_type = "mobile"
            [[ranges]]
            name = "open sms"
            file = "open-sms.txt"
            open_sms = true
            "#,
        );
        let plan = NumberPlan::build(&cfg, &dir, started()).expect("builds");
        assert_eq!(
            plan.ranges()[1].selector,
            Selector::File {
                path: dir.join("open-sms.txt"),
                count: 3
            }
        );
        let open: Vec<String> = plan
            .open_sms_numbers()
            .into_iter()
            .map(|r| r.number)
            .collect();
        assert_eq!(open, ["447700900001", "447700900002", "447700900555"]);
        for r in plan.open_sms_numbers() {
            assert_eq!(&*r.carrier, "alpha");
            assert_eq!(r.country.as_deref(), Some("GB"));
            assert_eq!(r.line_type, LineType::Mobile);
            assert_eq!(&r.chain[..], &[1, 0]);
        }
        assert!(!plan.lookup("447700900003").expect("in plan").open_sms);
        assert_eq!(plan.ranges()[1].label(), "ranges[1] (\"open sms\")");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn numbers_file_errors_name_file_and_line() {
        let dir = temp_dir("bad-file");
        let path = dir.join("numbers.txt");
        std::fs::write(&path, "# header\n447700900555\n\n4477009x0556\n").expect("write");
        let cfg = parse("[[ranges]]\nprefix = \"44\"\n[[ranges]]\nfile = \"numbers.txt\"\n");
        let err = NumberPlan::build(&cfg, &dir, started()).expect_err("bad line");
        assert_eq!(err.field, "ranges[1].file");
        assert_eq!(err.file, Some((path.clone(), 4)));
        assert!(err.message.contains("found 'x'"), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:4: ranges[1].file: ", path.display())),
            "{err}"
        );

        std::fs::write(&path, "447700900555\n447700900556\n447700900555\n").expect("write");
        let err = NumberPlan::build(&cfg, &dir, started()).expect_err("duplicate in file");
        assert_eq!(err.file, Some((path.clone(), 3)));
        assert!(
            err.message.contains("first at line 1 of this file"),
            "{err}"
        );

        let cfg =
            parse("[[ranges]]\nfile = \"numbers.txt\"\n[[ranges]]\nnumbers = [\"447700900556\"]\n");
        std::fs::write(&path, "447700900556\n").expect("write");
        let err = NumberPlan::build(&cfg, &dir, started()).expect_err("duplicate across");
        assert_eq!(err.field, "ranges[1].numbers[0]");
        assert_eq!(err.file, None);
        assert!(
            err.message
                .contains(&format!("first at {}:1 (ranges[0].file)", path.display())),
            "{err}"
        );

        let cfg =
            parse("[[ranges]]\nnumbers = [\"447700900556\"]\n[[ranges]]\nfile = \"numbers.txt\"\n");
        let err = NumberPlan::build(&cfg, &dir, started()).expect_err("duplicate across");
        assert_eq!(err.field, "ranges[1].file");
        assert_eq!(err.file, Some((path.clone(), 1)));
        assert!(
            err.message.contains("first at ranges[0].numbers[0]"),
            "{err}"
        );

        let cfg = parse("[[ranges]]\nfile = \"missing.txt\"\n");
        let err = NumberPlan::build(&cfg, &dir, started()).expect_err("missing file");
        assert_eq!(err.field, "ranges[0].file");
        assert!(err.message.contains("cannot read"), "{err}");
        assert!(err.message.contains("missing.txt"), "{err}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn open_sms_numbers_are_sorted_and_only_flagged_ones() {
        let plan = plan(
            r#"
            [[ranges]]
            prefix = "44"
            carrier = "alpha"
            [[ranges]]
            numbers = ["449", "441", "445"]
            open_sms = true
            [[ranges]]
            numbers = ["443"]
            "#,
        );
        let open: Vec<String> = plan
            .open_sms_numbers()
            .into_iter()
            .map(|r| r.number)
            .collect();
        assert_eq!(open, ["441", "445", "449"]);
    }

    #[test]
    fn everything_mobile_covers_every_number() {
        let plan = NumberPlan::everything_mobile("default");
        for number in ["1", "447700900123", "+882123456789012"] {
            let r = plan.lookup(number).expect("in plan");
            assert_eq!(r.line_type, LineType::Mobile);
            assert_eq!(&*r.carrier, "default");
            assert!(!r.absent);
            assert_eq!(&r.chain[..], &[0]);
        }
        assert_eq!(plan.ranges().len(), 1);
        assert_eq!(plan.ranges()[0].selector, Selector::Prefix(String::new()));
        assert!(plan.open_sms_numbers().is_empty());
        assert_eq!(plan.currency(), "EUR");
        assert_eq!(
            &*NumberPlan::everything_mobile("beta")
                .lookup("1")
                .expect("in")
                .carrier,
            "beta"
        );
    }

    #[test]
    fn ten_thousand_prefixes_and_ten_thousand_numbers() {
        let mut cfg = PlanConfig::default();
        // 10,000 four-digit-suffix prefixes under 4477, each its own carrier.
        for i in 0..10_000 {
            cfg.ranges.push(RangeConfig {
                prefix: Some(format!("4477{i:04}")),
                carrier: Some(format!("c{i}")),
                line_type: Some(LineType::Mobile),
                ..RangeConfig::default()
            });
        }
        cfg.ranges.push(RangeConfig {
            prefix: Some("44".into()),
            country: Some("GB".into()),
            ..RangeConfig::default()
        });
        cfg.ranges.push(RangeConfig {
            numbers: Some((0..10_000).map(|i| format!("4477{i:04}{i:04}")).collect()),
            open_sms: Some(true),
            ..RangeConfig::default()
        });
        let plan = NumberPlan::build(&cfg, Path::new("."), started()).expect("builds");
        assert_eq!(
            plan.footprint(),
            Footprint {
                prefixes: 10_001,
                prefix_lengths: 2,
                listed_numbers: 10_000,
                // One per prefix, one per (list, enclosing prefix) pair.
                attribute_sets: 10_001 + 10_000,
            }
        );
        for i in (0..10_000).step_by(7) {
            let r = plan.lookup(&format!("4477{i:04}{i:04}")).expect("listed");
            assert!(r.open_sms);
            assert_eq!(&*r.carrier, format!("c{i}"));
            assert_eq!(r.country.as_deref(), Some("GB"));
            assert_eq!(&r.chain[..], &[10_001, i, 10_000]);
            let r = plan.lookup(&format!("4477{i:04}5555")).expect("prefix");
            assert!(!r.open_sms);
            assert_eq!(&*r.carrier, format!("c{i}"));
            assert_eq!(&r.chain[..], &[i, 10_000]);
        }
        assert_eq!(plan.open_sms_numbers().len(), 10_000);
        assert_eq!(
            plan.lookup("4478").expect("in 44").carrier.as_ref(),
            DEFAULT_CARRIER
        );
    }

    #[test]
    fn hundred_million_number_prefix_costs_one_entry() {
        // 447 + 9 digits: 10^9 numbers; 4477 + 8 digits: 10^8 of them.
        let plan = plan("[[ranges]]\nprefix = \"4477\"\nline_type = \"mobile\"\n");
        let before = plan.footprint();
        assert_eq!(
            before,
            Footprint {
                prefixes: 1,
                prefix_lengths: 1,
                listed_numbers: 0,
                attribute_sets: 1
            }
        );
        // Looking numbers up all across the range leaves the index as it was: `lookup` takes
        // `&self` and the plan has no interior mutability, and the sizes say nothing was added.
        let mut found = 0u32;
        for n in (0..100_000_000u64).step_by(997) {
            let r = plan.lookup(&format!("4477{n:08}")).expect("in range");
            found += u32::from(r.line_type == LineType::Mobile);
        }
        assert_eq!(found, 100_000_000u64.div_ceil(997) as u32);
        assert_eq!(plan.footprint(), before);
    }

    #[test]
    fn json_schema_describes_the_config() {
        let schema = serde_json::to_string(&schemars::schema_for!(PlanConfig)).expect("json");
        for key in [
            "currency",
            "ranges",
            "prefix",
            "sim_swap_ago",
            "non_fixed_voip",
        ] {
            assert!(schema.contains(key), "{key} missing from {schema}");
        }
    }
}
