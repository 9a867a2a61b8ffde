//! Text that is known to be valid UTF-8, shared without copying: the payload of a text
//! message and the reason of a close frame.

use bytes::Bytes;

/// Bytes that are valid UTF-8: the payload of a text message, shared without copying.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Self(Bytes::new())
    }

    /// A string from static text.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        #[allow(unsafe_code)]
        // SAFETY: every constructor of `Utf8Bytes` validates its bytes (or takes a `str`/
        // `String`), and the inner `Bytes` is never exposed mutably.
        unsafe {
            std::str::from_utf8_unchecked(&self.0)
        }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Converts into the underlying `Bytes`.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The text from byte `at` to the end, sharing the bytes; `None` if `at` is past the end or
    /// not on a character boundary.
    ///
    /// ```
    /// use wsx_proto::Utf8Bytes;
    ///
    /// let text = Utf8Bytes::from("4héllo");
    /// assert_eq!(text.slice_from(1).as_deref(), Some("héllo"));
    /// assert_eq!(text.slice_from(3), None);
    /// ```
    pub fn slice_from(&self, at: usize) -> Option<Self> {
        self.as_str()
            .is_char_boundary(at)
            .then(|| Self(self.0.slice(at..)))
    }

    /// Wraps bytes the caller has already validated.
    pub(crate) fn from_validated(b: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&b).is_ok());
        Self(b)
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl std::fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = crate::utf8::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        crate::utf8::validate(&b)?;
        Ok(Self(b))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = crate::utf8::Utf8Error;
    fn try_from(v: Vec<u8>) -> Result<Self, Self::Error> {
        Self::try_from(Bytes::from(v))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
