//! OpenAI chat (and Anthropic, through chat) requests → Gemini, Gemini responses and
//! streams → chat. Gemini's own request fixtures are the shape to match: the output
//! must use the key paths a real client sends.

use super::*;
#[cfg(target_arch = "wasm32")]
use crate::support::test;

fn to_gemini(chat: &Map<String, Value>, stream: bool) -> Value {
    Value::Object(gemini::request_from_chat(chat, stream).unwrap_or_else(|e| panic!("{e}")))
}

/// An Anthropic request fixture, through chat, to Gemini.
fn from_anthropic(name: &str) -> Value {
    to_gemini(
        &anthropic::chat_from_request(&obj(&body(name))).unwrap(),
        false,
    )
}

/// `ours` has every key path of `pointers` that the sourced fixture has.
fn same_shape(ours: &Value, fixture: &str, pointers: &[&str]) {
    let theirs = body(fixture);
    for p in pointers {
        assert!(theirs.pointer(p).is_some(), "{fixture} has no {p}");
        assert!(
            ours.pointer(p).is_some(),
            "no {p} (as in {fixture}) in {ours}"
        );
    }
}

fn roles(g: &Value) -> Vec<&str> {
    let c = g["contents"].as_array().unwrap();
    c.iter().map(|c| c["role"].as_str().unwrap()).collect()
}

#[test]
fn chat_requests_to_gemini_translate_or_name_the_untranslatable_parameter() {
    let expected: &[(&str, Option<&str>)] = &[
        ("openai-chat-req-developer-user", None),
        ("openai-chat-req-image-url", Some("messages[0].content[1]")),
        ("openai-chat-req-tools-tool-choice", None),
        ("openai-chat-req-stream", None),
        ("openai-chat-req-stream-include-usage", None),
        (
            "openai-chat-req-all-optional-params-sdk-test",
            Some("logprobs"),
        ),
        ("openai-chat-req-response-format-json-schema", None),
    ];
    assert_eq!(bodies("request", "openai-chat").len(), expected.len());
    for (name, want) in expected {
        match (gemini::request_from_chat(&obj(&body(name)), false), want) {
            (Ok(_), None) => {}
            (Err(e), Some(p)) => assert_eq!(e.param.as_deref(), Some(*p), "{name}: {e}"),
            (got, _) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn system_messages_become_the_system_instruction_and_roles_user_and_model() {
    let g = to_gemini(&obj(&body("openai-chat-req-developer-user")), false);
    assert_eq!(
        g["systemInstruction"],
        json!({"parts": [{"text": "You are a helpful assistant."}]})
    );
    assert_eq!(
        g["contents"],
        json!([{"role": "user", "parts": [{"text": "Hello!"}]}])
    );
    same_shape(
        &g,
        "gemini-req-system-instruction",
        &["/systemInstruction/parts/0/text", "/contents/0/role"],
    );
    let g = from_anthropic("anthropic-req-multi-turn");
    let fixture = body("gemini-req-system-instruction-multi-turn-snake-case");
    assert_eq!(roles(&g), roles(&fixture));
    assert_eq!(g["contents"][1]["parts"], json!([{"text": "Hello!"}]));
    let req = body("anthropic-req-cache-control-system");
    let parts: Vec<Value> = req["system"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| json!({"text": b["text"]}))
        .collect();
    assert_eq!(
        from_anthropic("anthropic-req-cache-control-system")["systemInstruction"]["parts"],
        json!(parts)
    );
    let g = from_anthropic("anthropic-req-prefill-trailing-assistant");
    assert_eq!(
        roles(&g),
        ["user", "model"],
        "a prefill is the final model turn"
    );
}

#[test]
fn chat_tools_become_function_declarations_and_a_tool_config() {
    let chat = body("openai-chat-req-tools-tool-choice");
    let g = to_gemini(&obj(&chat), false);
    let f = &chat["tools"][0]["function"];
    let decl = json!({"name": f["name"], "description": f["description"], "parametersJsonSchema": f["parameters"]});
    assert_eq!(g["tools"], json!([{"functionDeclarations": [decl]}]));
    assert_eq!(
        g["toolConfig"],
        body("gemini-req-tools-tool-config")["toolConfig"],
        "mode AUTO"
    );
    same_shape(
        &g,
        "gemini-req-tools-tool-config",
        &["/tools/0/functionDeclarations/0/parametersJsonSchema"],
    );
    // A forced tool (Anthropic's tool_choice {type: tool}) is ANY with one allowed name.
    let g = from_anthropic("anthropic-req-image-base64-tools-tool-choice-tool");
    let config = &g["toolConfig"]["functionCallingConfig"];
    assert_eq!(
        config,
        &json!({"mode": "ANY", "allowedFunctionNames": ["record_summary"]})
    );
    same_shape(
        &g,
        "gemini-req-tool-config-any-allowed-names",
        &["/toolConfig/functionCallingConfig/allowedFunctionNames/0"],
    );
}

#[test]
fn tool_turns_become_function_call_and_function_response_parts() {
    let req = body("anthropic-req-tool-result-conversation");
    let g = from_anthropic("anthropic-req-tool-result-conversation");
    assert_eq!(roles(&g), ["user", "model", "user"]);
    let call = at(&g, "/contents/1/parts/1/functionCall");
    assert_eq!(
        call,
        &json!({"name": "get_weather", "args": req["messages"][1]["content"][1]["input"]})
    );
    let response = at(&g, "/contents/2/parts/0/functionResponse");
    assert_eq!(
        response,
        &json!({"name": "get_weather", "response": {"content": "15 degrees"}})
    );
    let fixture = body("gemini-req-function-response-turn");
    assert!(at(&fixture, "/contents/2/parts/0/functionResponse/response").is_object());
    // A JSON tool result is the response object itself.
    let g = from_anthropic("anthropic-req-tool-result-recorded");
    let r = at(&g, "/contents/2/parts/0/functionResponse/response");
    assert_eq!(
        r,
        &json!({"location": "SF", "temperature": "20°C", "condition": "Sunny"})
    );
    // Calls replayed from another model carry the documented placeholder signature.
    let history = body("openai-chat-req-messages-tool-call-history");
    let g = to_gemini(&obj(&json!({"messages": history})), false);
    let part = at(&g, "/contents/0/parts/0");
    assert_eq!(
        part["functionCall"],
        json!({"name": "thwomp", "args": {"foo": "bar123"}})
    );
    assert_eq!(part["thoughtSignature"], "skip_thought_signature_validator");
    assert_eq!(
        at(&g, "/contents/1/parts/0/functionResponse/response"),
        &json!({"oof": "321rab"})
    );
}

#[test]
fn parallel_function_responses_share_one_user_turn_and_name_their_calls() {
    let chat = parallel_tool_history();
    let g = to_gemini(&chat, false);
    assert_eq!(roles(&g), ["user", "model", "user"]);
    let calls = chat["messages"][1]["tool_calls"].as_array().unwrap();
    let (model, user) = (
        g["contents"][1]["parts"].as_array().unwrap(),
        g["contents"][2]["parts"].as_array().unwrap(),
    );
    assert_eq!((model.len(), user.len()), (calls.len(), calls.len()));
    for (k, call) in calls.iter().enumerate() {
        let f = &call["function"];
        assert_eq!(
            model[k]["functionCall"],
            json!({"name": f["name"], "args": json_of(&f["arguments"])})
        );
        assert_eq!(
            model[k].get("thoughtSignature").is_some(),
            k == 0,
            "only the first call is signed"
        );
        assert_eq!(user[k]["functionResponse"]["name"], f["name"]);
        assert_eq!(
            user[k]["functionResponse"]["response"]["condition"],
            "Sunny"
        );
    }
}

#[test]
fn generation_settings_use_gemini_s_names() {
    let chat = body("openai-chat-req-response-format-json-schema");
    let g = to_gemini(&obj(&chat), false);
    let schema = &chat["response_format"]["json_schema"]["schema"];
    assert_eq!(
        g["generationConfig"],
        json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
    );
    same_shape(
        &g,
        "gemini-req-response-json-schema",
        &["/generationConfig/responseJsonSchema"],
    );
    let g = from_anthropic("anthropic-req-all-optional-params-sdk-test");
    let c = &g["generationConfig"];
    assert_eq!(
        (&c["stopSequences"], &c["maxOutputTokens"]),
        (&json!(["string"]), &json!(1024))
    );
    assert_eq!((&c["temperature"], &c["topP"]), (&json!(1), &json!(0.7)));
    assert_eq!(c["responseJsonSchema"], json!({"foo": "bar"}));
    let paths = [
        "/generationConfig/stopSequences",
        "/generationConfig/temperature",
        "/generationConfig/maxOutputTokens",
        "/generationConfig/topP",
    ];
    same_shape(&g, "gemini-req-generation-config", &paths);
    let g = from_anthropic("anthropic-req-image-base64");
    let image = &body("gemini-req-inline-data-image")["contents"][0]["parts"][1]["inline_data"];
    let inline = at(&g, "/contents/0/parts/0/inlineData");
    assert_eq!(
        (&inline["mimeType"], &inline["data"]),
        (&image["mime_type"], &image["data"])
    );
}

#[test]
fn several_choices_go_to_gemini_only_without_streaming() {
    let mut chat = obj(&body("openai-chat-req-developer-user"));
    chat.insert("n".into(), 2.into());
    assert_eq!(
        to_gemini(&chat, false)["generationConfig"]["candidateCount"],
        2
    );
    let e = gemini::request_from_chat(&chat, true).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("n"));
}

#[test]
fn the_url_names_the_model_and_the_method() {
    let base = "https://generativelanguage.googleapis.com/v1beta/";
    let u = gemini::url(base, "gemini-2.5-flash", false);
    assert_eq!(
        u,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    );
    let u = gemini::url(base, "models/gemini-2.5-flash", true);
    assert_eq!(u, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
}

// --- responses and streams ----------------------------------------------------------

const FINISHES: [(&str, &str); 9] = [
    ("gemini-resp-text-usage-model-version", "stop"),
    ("gemini-resp-cached-content-token-count", "stop"),
    ("gemini-resp-function-call", "tool_calls"),
    ("gemini-resp-function-call-thought-signature", "tool_calls"),
    ("gemini-resp-function-call-avg-logprobs", "tool_calls"),
    ("gemini-resp-finish-reason-safety", "content_filter"),
    ("gemini-resp-prompt-blocked", "content_filter"),
    ("gemini-resp-prompt-blocked-sdk-mock", "content_filter"),
    ("gemini-resp-max-tokens", "length"),
];

fn parts_text(candidate: &Value) -> String {
    let parts = candidate["content"]["parts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    parts.iter().filter_map(|p| p["text"].as_str()).collect()
}

#[test]
fn gemini_responses_become_completions_with_mapped_finish_reasons() {
    assert_eq!(bodies("response", "gemini").len(), FINISHES.len());
    for (name, finish) in FINISHES {
        let r = body(name);
        let c = gemini::completion_from_response(&r, "").unwrap_or_else(|e| panic!("{name}: {e}"));
        let choice = &c["choices"][0];
        assert_eq!(choice["finish_reason"], finish, "{name}");
        let text = parts_text(&r["candidates"][0]);
        assert_eq!(
            choice["message"]["content"].as_str().unwrap_or(""),
            text,
            "{name}"
        );
        assert_eq!(
            c["id"],
            r.get("responseId").cloned().unwrap_or(json!("")),
            "{name}"
        );
        assert_eq!(
            c["model"],
            r.get("modelVersion").cloned().unwrap_or(json!("")),
            "{name}"
        );
    }
    let c = gemini::completion_from_response(&body("gemini-resp-max-tokens"), "mine").unwrap();
    assert_eq!(
        c["model"], "mine",
        "the model asked for wins over modelVersion"
    );
}

#[test]
fn function_call_parts_become_tool_calls() {
    for name in [
        "gemini-resp-function-call",
        "gemini-resp-function-call-thought-signature",
        "gemini-resp-function-call-avg-logprobs",
    ] {
        let r = body(name);
        let fc = at(&r, "/candidates/0/content/parts/0/functionCall");
        let c = gemini::completion_from_response(&r, "m").unwrap();
        let m = &c["choices"][0]["message"];
        assert_eq!(m["content"], Value::Null, "{name}");
        let call = &m["tool_calls"][0];
        assert_eq!(
            (&call["id"], &call["function"]["name"]),
            (&json!("call_0"), &fc["name"]),
            "{name}"
        );
        assert_eq!(
            json_of(&call["function"]["arguments"]),
            fc["args"],
            "{name}"
        );
        assert_eq!(c["choices"][0]["index"], 0, "{name}");
    }
}

#[test]
fn usage_metadata_becomes_usage_with_thoughts_and_cache() {
    for (name, _) in FINISHES {
        let r = body(name);
        let c = gemini::completion_from_response(&r, "m").unwrap();
        let Some(meta) = r.get("usageMetadata") else {
            assert!(c.get("usage").is_none(), "{name}");
            continue;
        };
        let u = &c["usage"];
        assert_eq!(u["prompt_tokens"], meta["promptTokenCount"], "{name}");
        assert_eq!(
            u["total_tokens"], meta["totalTokenCount"],
            "{name}: the totals agree"
        );
        let cached = meta
            .get("cachedContentTokenCount")
            .cloned()
            .unwrap_or(json!(0));
        assert_eq!(
            u["prompt_tokens_details"]["cached_tokens"], cached,
            "{name}"
        );
        let thoughts = meta.get("thoughtsTokenCount");
        assert_eq!(
            u["completion_tokens_details"].get("reasoning_tokens"),
            thoughts,
            "{name}"
        );
    }
    let c = gemini::completion_from_response(&body("gemini-resp-cached-content-token-count"), "m")
        .unwrap();
    assert_eq!(
        c["usage"]["prompt_tokens_details"]["cached_tokens"],
        323_383
    );
}

#[test]
fn gemini_error_bodies_are_errors() {
    let list: Vec<Value> = serde_json::from_str(GEMINI_ERRORS).unwrap();
    assert!(list.len() >= 10);
    for f in &list {
        let e = gemini::completion_from_response(&f["body"], "m").unwrap_err();
        assert_eq!(
            serde_json::from_str::<Value>(&e).unwrap(),
            f["body"],
            "{}",
            f["name"]
        );
        if f["body"].is_object() {
            let out = gemini::StreamDecoder::new("m", true).decode(&f["body"]);
            assert!(
                matches!(&out[..], [Decoded::Error(_)]),
                "{}: {out:?}",
                f["name"]
            );
        }
    }
}

#[test]
fn gemini_streams_decode_to_their_text_and_finish_once() {
    let want = [
        ("gemini-stream-text-usage-last-chunk", "stop"),
        ("gemini-stream-max-tokens", "length"),
        ("gemini-stream-text-raw-sse-cookbook", "stop"),
        ("gemini-stream-text-sdk-mock", "stop"),
        ("gemini-stream-function-call-sdk-mock", "tool_calls"),
        ("gemini-stream-prompt-blocked-sdk-mock", "content_filter"),
        (
            "gemini-stream-finish-reason-safety-sdk-mock",
            "content_filter",
        ),
        ("gemini-stream-gemini3-thought-signature", "stop"),
    ];
    assert_eq!(stream_names("gemini").len(), want.len());
    for (name, finish) in want {
        let c = decode_gemini(name, false);
        let text: String = events(name)
            .iter()
            .map(|(_, v)| parts_text(&v["candidates"][0]))
            .collect();
        assert_eq!(c.text, text, "{name}");
        assert_eq!(c.finishes, [finish], "{name}: one finish, at the end");
        assert!(
            c.done && c.errors.is_empty() && c.after_end == 0,
            "{name}: {c:?}"
        );
        assert!(c.usage.is_none(), "{name}: no usage chunk unless asked");
    }
    let c = decode_gemini("gemini-stream-function-call-sdk-mock", false);
    let (id, name, args) = &c.calls[&0];
    assert_eq!((id.as_str(), name.as_str()), ("call_0", "getTemperature"));
    assert_eq!(
        serde_json::from_str::<Value>(args).unwrap(),
        json!({"city": "San Jose"})
    );
}

#[test]
fn gemini_stream_usage_is_the_last_metadata_after_the_finish() {
    let name = "gemini-stream-text-usage-last-chunk";
    let mut d = gemini::StreamDecoder::new("m", true);
    let mut out: Vec<Decoded> = events(name).iter().flat_map(|(_, v)| d.decode(v)).collect();
    out.extend(d.finish());
    let id = &events(name)[0].1["responseId"];
    let chunks: Vec<&Value> = out
        .iter()
        .filter_map(|o| {
            if let Decoded::Chunk(c) = o {
                Some(c)
            } else {
                None
            }
        })
        .collect();
    assert!(
        chunks.iter().all(|c| &c["id"] == id),
        "chunks carry the responseId"
    );
    let n = out.len();
    assert_eq!(out[n - 1], Decoded::Done);
    let Decoded::Chunk(usage) = &out[n - 2] else {
        panic!("{out:?}")
    };
    assert_eq!(usage["choices"], json!([]));
    let u = &usage["usage"];
    assert_eq!(
        (
            &u["prompt_tokens"],
            &u["completion_tokens"],
            &u["total_tokens"]
        ),
        (&json!(20), &json!(253 + 260), &json!(533))
    );
    let Decoded::Chunk(finish) = &out[n - 3] else {
        panic!("{out:?}")
    };
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert!(
        decode_gemini("gemini-stream-text-raw-sse-cookbook", true)
            .usage
            .is_none(),
        "no metadata, no usage"
    );
}
