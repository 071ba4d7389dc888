//! The closed sets of names the service reports by: fraud rules, failover causes, check
//! results, overload answers. They live here, under every layer that uses them, so a counter
//! is an array index (no map, no lock, no allocation per request) and `/metrics` always lists
//! every series, at zero when nothing happened.

use serde::Serialize;

macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The word used in API bodies, metrics and logs.
            pub(crate) fn word(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }

            pub(crate) fn index(self) -> usize {
                self as usize
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.word())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.word())
            }
        }
    };
}

names! {
    /// A fraud-guard rule.
    Rule {
        /// The customer's own block list.
        BlocklistCustomer = "blocklist_customer",
        /// Numbers published on open-SMS websites.
        BlocklistOpenSms = "blocklist_open_sms",
        /// Numbers the heuristics listed.
        BlocklistHeuristic = "blocklist_heuristic",
        /// A listed number forgiven: recycled or ported since it was listed.
        BlocklistForgiven = "blocklist_forgiven",
        /// A number that keeps requesting codes and never verifies.
        RepeatRequester = "repeat_requester",
        /// Numbers always requested together from one IP or device.
        NumberGroup = "number_group",
        /// Line type refused (premium, shared cost, pager, voicemail, non-fixed VoIP).
        LineType = "line_type",
        /// SMS pumping: velocity or conversion of a prefix or country.
        SmsPumping = "sms_pumping",
        /// Destination country not allowed.
        GeoPermissions = "geo_permissions",
        /// Starts to one number without checks.
        NumberFlood = "number_flood",
        /// Starts per client IP.
        IpVelocity = "ip_velocity",
        /// Distinct destination countries per client IP.
        IpCountries = "ip_countries",
        /// A recent SIM swap or carrier change.
        SimSwap = "sim_swap",
        /// A missing, expired, replayed or forged attestation token.
        Attestation = "attestation",
    }
}

impl Rule {
    /// Parses the word.
    pub(crate) fn from_word(word: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.word() == word)
    }
}

names! {
    /// Why a step was left for the next one.
    Cause {
        /// The carrier answered submit_sm with an error status.
        SubmitError = "submit_error",
        /// The carrier throttled (ESME_RTHROTTLED, ESME_RMSGQFUL).
        Throttled = "throttled",
        /// No bind up, or it dropped while the submit was in flight.
        BindLost = "bind_lost",
        /// No answer to submit_sm in time.
        SubmitTimeout = "submit_timeout",
        /// The carrier's breaker is open.
        BreakerOpen = "breaker_open",
        /// A final receipt other than DELIVRD.
        Undeliverable = "undeliverable",
        /// No DELIVRD receipt and no successful check within the step's timeout.
        StepTimeout = "step_timeout",
        /// The voice call failed, was busy or unanswered, or could not be placed.
        CallFailed = "call_failed",
        /// A landline: SMS steps skipped, straight to voice.
        Landline = "landline",
        /// The guard asked for another channel than SMS (SIM swap, VoIP).
        GuardVoice = "guard_voice",
    }
}

names! {
    /// The result of a check.
    CheckResult {
        /// The code was right.
        Approved = "approved",
        /// A wrong code; the verification stays pending.
        WrongCode = "wrong_code",
        /// The verification had expired.
        Expired = "expired",
        /// Too many checks.
        MaxAttempts = "max_attempts",
        /// No such verification (or it ended).
        NotFound = "not_found",
    }
}

names! {
    /// A request refused for load or limits.
    Overload {
        /// Pending verifications at their cap (503).
        PendingCap = "pending_cap",
        /// Sends per number within the window (429).
        MaxSends = "max_sends",
        /// A body over the size limit (413).
        BodyTooLarge = "body_too_large",
        /// Lookup could not answer (rules that need it skipped).
        LookupUnavailable = "lookup_unavailable",
        /// Receipts that matched no attempt.
        UnmatchedReceipt = "unmatched_receipt",
    }
}
