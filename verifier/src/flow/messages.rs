//! What the messages say, per locale: the code first in an SMS (phones offer to copy the first
//! number of a message), the amount and payee when the code approves a payment (PSD2 dynamic
//! linking: the user must see what they approve), and the digits spaced in a voice call so a
//! speech engine reads them one by one, twice.

use crate::config::Channel;

/// The parts of a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    pub brand: &'a str,
    pub code: &'a str,
    pub minutes: u64,
    pub amount: Option<&'a str>,
    pub payee: Option<&'a str>,
}

/// Locales with their own text; others fall back to English.
pub(crate) const LOCALES: [&str; 5] = ["en", "es", "fr", "de", "pt"];

/// The text for `channel` in `locale` (`en`, `es-MX`, `fr`, ...).
pub(crate) fn text(locale: Option<&str>, channel: Channel, m: &Message<'_>) -> String {
    let lang = locale
        .and_then(|l| l.split(['-', '_']).next())
        .map(str::to_ascii_lowercase)
        .filter(|l| LOCALES.contains(&l.as_str()))
        .unwrap_or_else(|| "en".into());
    let (brand, code, min) = (m.brand, m.code, m.minutes);
    if channel == Channel::Voice {
        let spaced: Vec<String> = code.chars().map(String::from).collect();
        let spaced = spaced.join(" ");
        return match lang.as_str() {
            "es" => format!("Su código de {brand} es: {spaced}. Repito: {spaced}."),
            "fr" => format!("Votre code {brand} est : {spaced}. Je répète : {spaced}."),
            "de" => format!("Ihr {brand} Code lautet: {spaced}. Noch einmal: {spaced}."),
            "pt" => format!("O seu código {brand} é: {spaced}. Repito: {spaced}."),
            _ => format!("Your {brand} verification code is: {spaced}. Again: {spaced}."),
        };
    }
    if let (Some(amount), Some(payee)) = (m.amount, m.payee) {
        return match lang.as_str() {
            "es" => format!(
                "{code} es su código de {brand} para aprobar {amount} a {payee}. No lo comparta."
            ),
            "fr" => format!(
                "{code} est votre code {brand} pour approuver {amount} à {payee}. Ne le partagez pas."
            ),
            "de" => format!(
                "{code} ist Ihr {brand} Code, um {amount} an {payee} freizugeben. Nicht weitergeben."
            ),
            "pt" => format!(
                "{code} é o seu código {brand} para aprovar {amount} a {payee}. Não o partilhe."
            ),
            _ => format!(
                "{code} is your {brand} code to approve {amount} to {payee}. Do not share it."
            ),
        };
    }
    match lang.as_str() {
        "es" => format!("{code} es su código de verificación de {brand}. Caduca en {min} minutos."),
        "fr" => {
            format!("{code} est votre code de vérification {brand}. Il expire dans {min} minutes.")
        }
        "de" => format!("{code} ist Ihr {brand} Bestätigungscode. Er läuft in {min} Minuten ab."),
        "pt" => format!("{code} é o seu código de verificação {brand}. Expira em {min} minutos."),
        _ => format!("{code} is your {brand} verification code. It expires in {min} minutes."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_first_amount_and_payee_said_voice_spaced() {
        let m = Message {
            brand: "Acme",
            code: "123456",
            minutes: 10,
            amount: None,
            payee: None,
        };
        assert_eq!(
            text(None, Channel::Sms, &m),
            "123456 is your Acme verification code. It expires in 10 minutes."
        );
        assert!(text(Some("es-MX"), Channel::Sms, &m).starts_with("123456 es su código"));
        assert!(text(Some("xx"), Channel::Sms, &m).starts_with("123456 is your"));
        assert!(text(None, Channel::Voice, &m).contains("1 2 3 4 5 6. Again: 1 2 3 4 5 6."));
        let pay = Message {
            amount: Some("€10.00"),
            payee: Some("Shop"),
            ..m
        };
        assert_eq!(
            text(None, Channel::Sms, &pay),
            "123456 is your Acme code to approve €10.00 to Shop. Do not share it."
        );
        // English, French and German fit GSM 7-bit (one SMS); Spanish and Portuguese accents
        // (ó, á, ç) are not in it, so those go as UCS-2, still short.
        for l in LOCALES {
            let t = text(Some(l), Channel::Sms, &pay);
            assert_eq!(
                smpp::text::gsm7_septets(&t).is_some(),
                ["en", "fr", "de"].contains(&l),
                "{l}: {t}"
            );
            assert!(t.chars().count() <= 100, "{l}: {t}");
        }
    }
}
