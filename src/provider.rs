//! Provider dialects: how an upstream speaks, and so how its errors look.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The API dialect of an upstream. It decides how requests are addressed and how
/// error bodies are read. Every OpenAI-compatible provider shares [`Dialect::OpenAi`]'s
/// error shapes; the named ones exist because a few of their errors mean something
/// else (an OpenRouter 403 is usually a spend limit, not a bad key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Dialect {
    /// api.openai.com.
    OpenAi,
    /// Azure OpenAI: `api-key` header, deployment URLs, `api-version`.
    Azure,
    /// Anthropic (Messages API or its OpenAI-compatible endpoint).
    Anthropic,
    /// Google Gemini (generativelanguage API or its OpenAI-compatible endpoint).
    Gemini,
    /// OpenRouter, which wraps upstream errors in `error.metadata.raw`.
    OpenRouter,
    /// Groq (OpenAI-compatible).
    Groq,
    /// DeepSeek (OpenAI-compatible).
    DeepSeek,
    /// Together AI (OpenAI-compatible).
    Together,
    /// Mistral La Plateforme (OpenAI-compatible).
    Mistral,
    /// A vLLM server (OpenAI-compatible).
    Vllm,
    /// An Ollama server (its OpenAI-compatible `/v1`).
    Ollama,
    /// Any other server that speaks the OpenAI chat-completions API.
    OpenAiCompatible,
}

impl Dialect {
    /// Every dialect, in a stable order (for docs, CLIs and tests).
    pub const ALL: [Dialect; 12] = [
        Dialect::OpenAi,
        Dialect::Azure,
        Dialect::Anthropic,
        Dialect::Gemini,
        Dialect::OpenRouter,
        Dialect::Groq,
        Dialect::DeepSeek,
        Dialect::Together,
        Dialect::Mistral,
        Dialect::Vllm,
        Dialect::Ollama,
        Dialect::OpenAiCompatible,
    ];

    /// The name used in configuration and JSON (`"openai"`, `"openrouter"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Azure => "azure",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
            Dialect::OpenRouter => "openrouter",
            Dialect::Groq => "groq",
            Dialect::DeepSeek => "deepseek",
            Dialect::Together => "together",
            Dialect::Mistral => "mistral",
            Dialect::Vllm => "vllm",
            Dialect::Ollama => "ollama",
            Dialect::OpenAiCompatible => "openai-compatible",
        }
    }

    /// Parses a configuration name; accepts a few common spellings.
    pub fn from_name(name: &str) -> Option<Dialect> {
        let lower = name.trim().to_ascii_lowercase();
        let d = match lower.as_str() {
            "openai" | "open-ai" | "open_ai" => Dialect::OpenAi,
            "azure" | "azure-openai" | "azure_openai" => Dialect::Azure,
            "anthropic" | "claude" => Dialect::Anthropic,
            "gemini" | "google" | "google-gemini" => Dialect::Gemini,
            "openrouter" | "open-router" => Dialect::OpenRouter,
            "groq" => Dialect::Groq,
            "deepseek" => Dialect::DeepSeek,
            "together" | "togetherai" | "together-ai" => Dialect::Together,
            "mistral" => Dialect::Mistral,
            "vllm" => Dialect::Vllm,
            "ollama" => Dialect::Ollama,
            "openai-compatible" | "openai_compatible" | "compatible" => Dialect::OpenAiCompatible,
            _ => return None,
        };
        Some(d)
    }
}

impl Dialect {
    /// How this dialect's API can finish an answer another target started.
    ///
    /// `Prefill` where the provider documents continuing a trailing assistant
    /// message: Anthropic (assistant prefill), OpenRouter (assistant prefill),
    /// Mistral (`prefix: true`), Groq (prefilling), vLLM (`continue_final_message`).
    /// `Fresh` elsewhere (OpenAI and Azure document no prefill; DeepSeek's prefix
    /// completion needs its beta endpoint; Gemini, Together, Ollama and unknown
    /// servers are not known to).
    pub fn default_continuation(self) -> ContinuationSupport {
        match self {
            Dialect::Anthropic
            | Dialect::OpenRouter
            | Dialect::Mistral
            | Dialect::Groq
            | Dialect::Vllm => ContinuationSupport::Prefill,
            _ => ContinuationSupport::Fresh,
        }
    }
}

/// Which of a provider's APIs the gateway calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderApi {
    /// The provider's own API: Anthropic Messages (`POST {base}/messages`,
    /// `x-api-key`, `anthropic-version`), Gemini `generateContent`
    /// (`x-goog-api-key`). For the OpenAI family it is the chat-completions API.
    Native,
    /// The OpenAI-compatible endpoint (`POST {base}/chat/completions`, Bearer).
    #[serde(alias = "openai-compatible", alias = "openai_compatible")]
    Openai,
}

impl Dialect {
    /// The API a provider of this dialect is called with when the config does not
    /// say: the native one for Anthropic, and for Gemini unless the base URL is its
    /// OpenAI-compatibility endpoint (`…/openai`); the chat-completions API for
    /// everyone else.
    pub fn default_api(self, base_url: &str) -> ProviderApi {
        match self {
            Dialect::Anthropic => ProviderApi::Native,
            Dialect::Gemini if !base_url.trim_end_matches('/').ends_with("/openai") => {
                ProviderApi::Native
            }
            _ => ProviderApi::Openai,
        }
    }

    /// Whether this dialect has a native API other than chat completions.
    pub fn has_native_api(self) -> bool {
        matches!(self, Dialect::Anthropic | Dialect::Gemini)
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Dialect {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Dialect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Dialect::from_name(&name).ok_or_else(|| {
            let valid: Vec<&str> = Dialect::ALL.iter().map(|d| d.as_str()).collect();
            serde::de::Error::custom(format!(
                "unknown dialect `{name}`; expected one of: {}",
                valid.join(", ")
            ))
        })
    }
}

/// How a target can finish an answer whose stream broke on another target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContinuationSupport {
    /// Its API continues a trailing assistant message (prefill): it is sent the
    /// conversation plus the text already streamed, and continues it.
    Prefill,
    /// It cannot continue a prefill: it is asked for the answer afresh, and its
    /// answer is used only if it begins with exactly what the client already has.
    Fresh,
    /// It never takes over a broken stream.
    Off,
}

impl ContinuationSupport {
    /// The name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            ContinuationSupport::Prefill => "prefill",
            ContinuationSupport::Fresh => "fresh",
            ContinuationSupport::Off => "off",
        }
    }
}
