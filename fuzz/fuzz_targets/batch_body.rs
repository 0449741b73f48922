#![no_main]
//! `batch_body`: the body of `POST /v1/batch`, as the server reads it:
//! `serde_json::from_slice::<BatchRequest>`, then `MutationIn::into_mutation` on each
//! mutation, then the core's `Limits::check_mutation` (and `check_batch`).
//!
//! Must hold: no panic; a conversion error is a `WireError` or an `InvalidInput`; rule
//! breaks are `InvalidInput`; every accepted mutation survives the client's direction:
//! `MutationIn::from_mutation` gives a wire mutation whose JSON text the server's
//! deserializer takes back and converts to exactly the same mutation (JSON values travel
//! as their text, so the bytes must survive too).

use botstore::{Error, Limits};
use botstore_api::wire::{BatchRequest, ConvertError, MutationIn};
use libfuzzer_sys::fuzz_target;

fn typed(what: &str, e: &Error) {
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "{what}: caller input rejected with {e:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<BatchRequest>(data) else {
        return;
    };
    let limits = Limits::default();
    let mut accepted = Vec::new();
    for m in req.mutations {
        let m = match m.into_mutation() {
            Ok(m) => m,
            Err(ConvertError::Wire(_)) => continue,
            Err(ConvertError::Core(e)) => {
                typed("conversion", &e);
                continue;
            }
        };
        if let Err(e) = limits.check_mutation(&m) {
            typed("check_mutation", &e);
            continue;
        }
        // The client's direction, and back through the server's deserializer.
        let wire = MutationIn::from_mutation(&m).expect("a caller's mutation has a wire form");
        let text = serde_json::to_vec(&wire).unwrap();
        let parsed: MutationIn = serde_json::from_slice(&text).unwrap_or_else(|e| {
            panic!(
                "the wire form {} of {m:?} does not parse back: {e}",
                String::from_utf8_lossy(&text)
            )
        });
        let back = parsed.into_mutation().unwrap_or_else(|e| {
            panic!(
                "the wire form {} of {m:?} does not convert back: {e}",
                String::from_utf8_lossy(&text)
            )
        });
        assert_eq!(back, m, "wire form {}", String::from_utf8_lossy(&text));
        limits
            .check_mutation(&back)
            .unwrap_or_else(|e| panic!("{back:?} (from {m:?}) no longer passes: {e}"));
        accepted.push(m);
    }
    if let Err(e) = limits.check_batch(&accepted) {
        typed("check_batch", &e);
    }
});
