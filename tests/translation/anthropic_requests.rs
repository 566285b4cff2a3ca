//! OpenAI chat requests → Anthropic, and Anthropic requests → chat → Anthropic.

use super::*;
#[cfg(target_arch = "wasm32")]
use crate::support::test;

// --- OpenAI chat → Anthropic requests -------------------------------------------

#[test]
fn chat_requests_to_anthropic_translate_or_name_the_untranslatable_parameter() {
    let expected: &[(&str, Option<&str>)] = &[
        ("openai-chat-req-developer-user", None),
        ("openai-chat-req-image-url", None),
        ("openai-chat-req-tools-tool-choice", None),
        ("openai-chat-req-stream", None),
        ("openai-chat-req-stream-include-usage", None),
        (
            "openai-chat-req-all-optional-params-sdk-test",
            Some("logprobs"),
        ),
        (
            "openai-chat-req-response-format-json-schema",
            Some("response_format"),
        ),
    ];
    let all = bodies("request", "openai-chat");
    assert_eq!(
        all.len(),
        expected.len(),
        "a new chat request fixture: add it here"
    );
    for (name, want) in expected {
        let got = anthropic::request_from_chat(&obj(&body(name)), "claude-x", false);
        match (got, want) {
            (Ok(_), None) => {}
            (Err(e), Some(p)) => assert_eq!(e.param.as_deref(), Some(*p), "{name}: {e}"),
            (got, _) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn anthropic_requests_have_max_tokens_a_top_level_system_and_alternating_roles() {
    for name in [
        "openai-chat-req-developer-user",
        "openai-chat-req-image-url",
    ] {
        let chat = body(name);
        let a =
            Value::Object(anthropic::request_from_chat(&obj(&chat), "claude-x", false).unwrap());
        let want = chat["max_tokens"]
            .as_u64()
            .unwrap_or(anthropic::DEFAULT_MAX_TOKENS);
        assert_eq!(a["max_tokens"], want, "{name}");
        assert_eq!(a["model"], "claude-x");
        let developer = chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "developer");
        assert_eq!(a.get("system"), developer.map(|m| &m["content"]), "{name}");
        let roles: Vec<&str> = a["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles.first(), Some(&"user"), "{name}");
        assert!(roles.windows(2).all(|w| w[0] != w[1]), "{name}: {roles:?}");
    }
    assert_eq!(anthropic::DEFAULT_MAX_TOKENS, 4096);
    assert_eq!(anthropic::API_VERSION, "2023-06-01");
}

#[test]
fn an_http_image_url_becomes_a_url_image_source() {
    let chat = body("openai-chat-req-image-url");
    let a = Value::Object(anthropic::request_from_chat(&obj(&chat), "c", false).unwrap());
    let blocks = at(&a, "/messages/0/content");
    assert_eq!(
        blocks[0],
        json!({"type": "text", "text": "What is in this image?"})
    );
    assert_eq!(blocks[1]["source"]["type"], "url");
    assert_eq!(
        blocks[1]["source"]["url"],
        chat["messages"][0]["content"][1]["image_url"]["url"]
    );
}

#[test]
fn chat_tools_become_anthropic_tools_with_their_schema() {
    let chat = body("openai-chat-req-tools-tool-choice");
    let a = Value::Object(anthropic::request_from_chat(&obj(&chat), "c", true).unwrap());
    let f = &chat["tools"][0]["function"];
    assert_eq!(
        a["tools"],
        json!([{"name": f["name"], "description": f["description"], "input_schema": f["parameters"]}])
    );
    assert_eq!(a["tool_choice"], json!({"type": "auto"}));
    assert_eq!(a["stream"], true);
}

#[test]
fn tool_calls_become_tool_use_and_tool_messages_tool_results() {
    let history = body("openai-chat-req-messages-tool-call-history");
    let chat = obj(&json!({"messages": history}));
    let a = Value::Object(anthropic::request_from_chat(&chat, "c", false).unwrap());
    let call = &history[0]["tool_calls"][0];
    let tool_use = at(&a, "/messages/0/content/0");
    assert_eq!(a["messages"][0]["role"], "assistant");
    assert_eq!(tool_use["type"], "tool_use");
    assert_eq!(tool_use["id"], call["id"]);
    assert_eq!(tool_use["name"], call["function"]["name"]);
    assert_eq!(tool_use["input"], json_of(&call["function"]["arguments"]));
    let result = at(&a, "/messages/1/content/0");
    assert_eq!(a["messages"][1]["role"], "user");
    assert_eq!(result["type"], "tool_result");
    assert_eq!(result["tool_use_id"], history[1]["tool_call_id"]);
    assert_eq!(result["content"], history[1]["content"]);
}

#[test]
fn several_choices_cannot_go_to_anthropic() {
    let mut chat = obj(&body("openai-chat-req-developer-user"));
    chat.insert("n".into(), 2.into());
    let e = anthropic::request_from_chat(&chat, "c", false).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("n"), "{e}");
}

// --- Anthropic requests → chat → Anthropic ---------------------------------------

/// The text of each turn (a string content, or its text blocks joined).
fn turn_texts(req: &Value) -> Vec<(String, String)> {
    let text = |c: &Value| match c {
        Value::String(s) => s.clone(),
        _ => c
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["text"].as_str())
            .collect(),
    };
    let msgs = req["messages"].as_array().unwrap();
    msgs.iter()
        .map(|m| (m["role"].as_str().unwrap().to_string(), text(&m["content"])))
        .collect()
}

fn system_text(req: &Value) -> String {
    match &req["system"] {
        Value::Array(b) => b.iter().filter_map(|b| b["text"].as_str()).collect(),
        s => s.as_str().unwrap_or("").to_string(),
    }
}

#[test]
fn anthropic_requests_round_trip_through_chat() {
    let all = bodies("request", "anthropic-messages");
    assert_eq!(all.len(), 12);
    for (name, req) in all.iter().filter(|(n, _)| !n.contains("all-optional")) {
        let chat =
            anthropic::chat_from_request(&obj(req)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let stream = req["stream"] == true;
        assert_eq!(chat.get("stream").is_some(), stream, "{name}");
        let back = anthropic::request_from_chat(&chat, "m", stream)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = Value::Object(back);
        assert_eq!(turn_texts(&back), turn_texts(req), "{name}");
        assert_eq!(system_text(&back), system_text(req), "{name}");
        assert_eq!(back["max_tokens"], req["max_tokens"], "{name}");
        let tools = |r: &Value| {
            r["tools"].as_array().map(|t| {
                t.iter()
                    .map(|t| (t["name"].clone(), t["input_schema"].clone()))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(tools(&back), tools(req), "{name}");
        assert_eq!(back.get("tool_choice"), req.get("tool_choice"), "{name}");
        let uses = |r: &Value| -> Vec<Value> {
            let blocks = r["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m["content"].as_array())
                .flatten();
            blocks
                .filter(|b| b["type"] != "text")
                .map(|b| {
                    json!([
                        b["type"],
                        b["id"],
                        b["input"],
                        b["tool_use_id"],
                        b["content"],
                        b["source"]
                    ])
                })
                .collect()
        };
        assert_eq!(
            uses(&back),
            uses(req),
            "{name}: tool_use, tool_result and image blocks"
        );
    }
}

#[test]
fn every_optional_anthropic_parameter_maps_back_or_is_refused_by_name() {
    let req = obj(&body("anthropic-req-all-optional-params-sdk-test"));
    let chat = anthropic::chat_from_request(&req).unwrap();
    assert_eq!(chat["stop"], json!(["string"]));
    assert_eq!(chat["user"], req["metadata"]["user_id"]);
    assert_eq!(chat["parallel_tool_calls"], false);
    assert_eq!(
        chat["response_format"]["json_schema"]["schema"],
        json!({"foo": "bar"})
    );
    // Documented: Anthropic targets refuse a json_schema response format.
    let e = anthropic::request_from_chat(&chat, "m", false).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("response_format"));
    let mut chat = chat;
    chat.remove("response_format");
    let back = Value::Object(anthropic::request_from_chat(&chat, "m", false).unwrap());
    assert_eq!(back["stop_sequences"], req["stop_sequences"]);
    assert_eq!(
        (&back["temperature"], &back["top_p"]),
        (&json!(1.0), &req["top_p"])
    );
    assert_eq!(
        back["metadata"],
        json!({"user_id": req["metadata"]["user_id"]})
    );
    assert_eq!(back["tool_choice"], req["tool_choice"]);
    assert_eq!(back["system"], req["system"][0]["text"]);
}

#[test]
fn a_base64_image_survives_as_a_data_url_and_back() {
    let req = body("anthropic-req-image-base64");
    let chat = anthropic::chat_from_request(&obj(&req)).unwrap();
    let url = &chat["messages"][0]["content"][0]["image_url"]["url"];
    assert_eq!(url, "data:image/jpeg;base64,$IMAGE_BASE64");
    let back = Value::Object(anthropic::request_from_chat(&chat, "m", false).unwrap());
    assert_eq!(
        back["messages"][0]["content"][0],
        req["messages"][0]["content"][0]
    );
}

#[test]
fn cache_control_is_dropped_on_the_way_to_chat_and_kept_from_chat_parts_and_tools() {
    let req = body("anthropic-req-cache-control-blocks");
    let chat = Value::Object(anthropic::chat_from_request(&obj(&req)).unwrap());
    assert!(
        !chat.to_string().contains("cache_control"),
        "documented as dropped: {chat}"
    );
    // A chat request that carries it (OpenRouter's shape) keeps it on Anthropic targets.
    let mut chat = chat;
    let cc = req["messages"][2]["content"][1]["cache_control"].clone();
    chat["messages"][3]["content"][1]["cache_control"] = cc.clone();
    chat["messages"][0] = json!({"role": "system", "content": [{"type": "text", "text": req["system"][0]["text"], "cache_control": cc}]});
    let mut tools = body("openai-chat-req-tools-tool-choice")["tools"].clone();
    tools[0]["cache_control"] = cc.clone();
    chat["tools"] = tools;
    let back = Value::Object(anthropic::request_from_chat(&obj(&chat), "m", false).unwrap());
    assert_eq!(back["system"], req["system"]);
    assert_eq!(
        back["messages"][2]["content"],
        req["messages"][2]["content"]
    );
    assert_eq!(back["tools"][0]["cache_control"], cc);
}

#[test]
fn parallel_tool_results_merge_into_one_user_turn() {
    let chat = parallel_tool_history();
    let a = Value::Object(anthropic::request_from_chat(&chat, "c", false).unwrap());
    let turns = a["messages"].as_array().unwrap();
    let roles: Vec<&Value> = turns.iter().map(|m| &m["role"]).collect();
    assert_eq!(
        roles,
        [&json!("user"), &json!("assistant"), &json!("user")],
        "{a}"
    );
    let calls = chat["messages"][1]["tool_calls"].as_array().unwrap();
    let ids = |k: &str, turn: &Value| -> Vec<Value> {
        turn["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[k].clone())
            .collect()
    };
    let want: Vec<Value> = calls.iter().map(|c| c["id"].clone()).collect();
    assert_eq!(ids("id", &turns[1]), want);
    assert_eq!(ids("tool_use_id", &turns[2]), want);
    assert_eq!(
        turns[2]["content"][1]["content"],
        chat["messages"][3]["content"]
    );
}
