//! Secrets stay secret: with auth enabled, no password or token appears in
//! the server's log (text or JSON) or in an error answer, whatever the
//! requests carried.

use base64::Engine;

use crate::process::{http, start_strata_at};

const PASSWORD: &str = "pw-Zq8-correct-horse";
const TOKEN: &str = "tok-Xy7-battery-staple";
const ADMIN: &str = "adm-Qq1-admin-only";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn no_secret_reaches_the_log_or_an_answer() {
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        for (file, secret) in [("pw", PASSWORD), ("tok", TOKEN), ("adm", ADMIN)] {
            std::fs::write(dir.path().join(file), format!("{secret}\n")).unwrap();
        }
        let path = |f: &str| dir.path().join(f).display().to_string();
        let (pw, tok, adm) = (path("pw"), path("tok"), path("adm"));
        let (server, addr) = start_strata_at(
            &format!("strata-{format}"),
            dir.path(),
            &dir.path().join("data"),
            &[
                "--log-format",
                format,
                "--basic-auth-user",
                "ann",
                "--basic-auth-password-file",
                &pw,
                "--bearer-token-file",
                &tok,
                "--admin-token-file",
                &adm,
            ],
        );
        let good_basic = format!("Basic {}", b64(&format!("ann:{PASSWORD}")));
        let wrong_basic = format!("Basic {}", b64(&format!("ann:{PASSWORD}x")));
        let bearer = format!("Bearer {TOKEN}");
        let wrong_bearer = format!("Bearer {TOKEN}x");
        let admin = format!("Bearer {ADMIN}");
        let mut answers = Vec::new();
        for (target, auth, want) in [
            ("/api/v1/labels", good_basic.as_str(), 200),
            ("/api/v1/labels", bearer.as_str(), 200),
            ("/api/v1/labels", wrong_basic.as_str(), 401),
            ("/api/v1/labels", wrong_bearer.as_str(), 401),
            ("/api/v1/labels", admin.as_str(), 401),
            ("/internal/force_flush", bearer.as_str(), 401),
            ("/internal/force_flush", admin.as_str(), 200),
        ] {
            let (status, body) =
                http(&addr, "GET", target, &[("Authorization", auth)], b"").unwrap();
            assert_eq!(status, want, "{target} with {auth}");
            answers.push(String::from_utf8_lossy(&body).into_owned());
        }
        let key = format!("/internal/force_flush?authKey={ADMIN}x");
        let (status, body) = http(&addr, "GET", &key, &[], b"").unwrap();
        assert_eq!(status, 401);
        answers.push(String::from_utf8_lossy(&body).into_owned());

        let log = server.log_text();
        assert!(
            log.contains("access") || log.contains("ready"),
            "log is empty: {log}"
        );
        for secret in [PASSWORD, TOKEN, ADMIN] {
            for form in [secret.to_owned(), b64(&format!("ann:{secret}"))] {
                assert!(
                    !log.contains(&form),
                    "{format} log contains a secret: {log}"
                );
                for a in &answers {
                    assert!(!a.contains(&form), "an answer contains a secret: {a}");
                }
            }
        }
    }
}
