//! An RSA public key read from PEM — `PUBLIC KEY` (SubjectPublicKeyInfo, what Adobe Commerce and Adobe
//! I/O Events publish) or `RSA PUBLIC KEY` (PKCS#1) — and RSA-SHA256 PKCS#1 v1.5 signature checks with
//! `ring`, which takes the PKCS#1 form. The key's size is checked when it is read, so a key `ring`
//! would never accept is reported then, not as every signature failing.

use spki::der::asn1::UintRef;
use spki::der::{Decode, Reader, SliceReader};

/// `rsaEncryption` (RFC 8017), the algorithm of an RSA SubjectPublicKeyInfo.
const RSA_ENCRYPTION: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The key sizes `ring` verifies RSA-SHA256 signatures with.
const BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// An RSA public key, ready to check signatures.
#[derive(Clone)]
pub(super) struct RsaPublicKey {
    /// The DER of its PKCS#1 `RSAPublicKey`.
    pkcs1: Vec<u8>,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaPublicKey")
    }
}

impl RsaPublicKey {
    /// Reads a PEM public key. PEM pasted into one line of an environment variable, with `\n` written
    /// for its line ends, is read too.
    pub(super) fn from_pem(text: &str) -> Result<RsaPublicKey, String> {
        let text = text.trim();
        let unescaped;
        let text = if !text.contains('\n') && text.contains("\\n") {
            unescaped = text.replace("\\n", "\n");
            unescaped.as_str()
        } else {
            text
        };
        if text.is_empty() {
            return Err("the public key is empty".into());
        }
        let (label, der) =
            spki::der::pem::decode_vec(text.as_bytes()).map_err(|e| format!("the public key is not PEM ({e})"))?;
        let pkcs1 = match label {
            "PUBLIC KEY" => {
                let info = spki::SubjectPublicKeyInfoRef::from_der(&der)
                    .map_err(|e| format!("the public key is not a SubjectPublicKeyInfo ({e})"))?;
                if info.algorithm.oid != RSA_ENCRYPTION {
                    return Err(format!("the public key is not an RSA key (its algorithm is {})", info.algorithm.oid));
                }
                info.subject_public_key.as_bytes().ok_or("the public key's bit string is not whole bytes")?.to_vec()
            }
            "RSA PUBLIC KEY" => der,
            other => return Err(format!("a PEM `{other}` is not a public key; give the `PUBLIC KEY`")),
        };
        let bits = modulus_bits(&pkcs1).map_err(|e| format!("the public key is not an RSA public key ({e})"))?;
        if !BITS.contains(&bits) {
            return Err(format!("the RSA key has {bits} bits; signatures are checked with keys of 2048 to 8192 bits"));
        }
        Ok(RsaPublicKey { pkcs1 })
    }

    /// True when `signature` is this key's RSA-SHA256 (PKCS#1 v1.5) signature of `message`.
    pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &self.pkcs1);
        key.verify(message, signature).is_ok()
    }
}

/// The size in bits of the modulus of a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus, publicExponent }`.
fn modulus_bits(pkcs1: &[u8]) -> spki::der::Result<usize> {
    let mut reader = SliceReader::new(pkcs1)?;
    let modulus = reader.sequence(|seq| {
        let modulus = UintRef::decode(seq)?;
        UintRef::decode(seq)?;
        Ok(modulus)
    })?;
    reader.finish(())?;
    let bytes = modulus.as_bytes();
    Ok(match bytes.first() {
        Some(&first) => bytes.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    })
}
