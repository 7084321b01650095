//! The OpenAI-compatible presets, as rows of data.
//!
//! Each row is a base URL that already contains the API version, so the endpoint
//! paths (`/chat/completions`, `/embeddings`, `/models`) are appended as they are.
//! Providers with a mainland-China and an international endpoint have two rows.
//! Where a vendor documents a departure from OpenAI's Chat Completions, the row's
//! [`Quirks`] say so; `docs/PROVIDERS.md` lists each with its source.

use crate::spec::{Preset, Quirks};

const HOSTED: Quirks = Quirks {
    key_required: true,
    embeddings: false,
    reasoning_content: false,
    chat_defaults: &[],
};

const LOCAL: Quirks = Quirks {
    key_required: false,
    embeddings: true,
    reasoning_content: false,
    chat_defaults: &[],
};

/// StepFun answers reasoning in a field of its own (`reasoning`) unless asked for
/// DeepSeek's `reasoning_content`, the one the gateway reads.
const STEPFUN: Quirks = Quirks {
    reasoning_content: true,
    chat_defaults: &[("reasoning_format", "\"deepseek-style\"")],
    ..HOSTED
};

/// Every preset, in display order.
pub static PRESETS: &[Preset] = &[
    Preset {
        name: "deepseek",
        label: "DeepSeek",
        base_url: "https://api.deepseek.com/v1",
        api_key_env: "DEEPSEEK_API_KEY",
        quirks: Quirks {
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "mistral",
        label: "Mistral",
        base_url: "https://api.mistral.ai/v1",
        api_key_env: "MISTRAL_API_KEY",
        quirks: Quirks {
            embeddings: true,
            ..HOSTED
        },
    },
    Preset {
        name: "xai",
        label: "xAI",
        base_url: "https://api.x.ai/v1",
        api_key_env: "XAI_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "groq",
        label: "Groq",
        base_url: "https://api.groq.com/openai/v1",
        api_key_env: "GROQ_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "openrouter",
        label: "OpenRouter",
        base_url: "https://openrouter.ai/api/v1",
        api_key_env: "OPENROUTER_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "together",
        label: "Together AI",
        base_url: "https://api.together.xyz/v1",
        api_key_env: "TOGETHER_API_KEY",
        quirks: Quirks {
            embeddings: true,
            ..HOSTED
        },
    },
    Preset {
        name: "fireworks",
        label: "Fireworks AI",
        base_url: "https://api.fireworks.ai/inference/v1",
        api_key_env: "FIREWORKS_API_KEY",
        quirks: Quirks {
            embeddings: true,
            ..HOSTED
        },
    },
    Preset {
        name: "perplexity",
        label: "Perplexity",
        base_url: "https://api.perplexity.ai",
        api_key_env: "PERPLEXITY_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "dashscope",
        label: "Qwen (DashScope, mainland China)",
        base_url: "https://dashscope.aliyuncs.com/compatible-mode/v1",
        api_key_env: "DASHSCOPE_API_KEY",
        quirks: Quirks {
            embeddings: true,
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "dashscope-intl",
        label: "Qwen (DashScope, international)",
        base_url: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        api_key_env: "DASHSCOPE_API_KEY",
        quirks: Quirks {
            embeddings: true,
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "zhipu",
        label: "Zhipu GLM (BigModel, mainland China)",
        base_url: "https://open.bigmodel.cn/api/paas/v4",
        api_key_env: "ZHIPUAI_API_KEY",
        quirks: Quirks {
            embeddings: true,
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "zai",
        label: "Z.ai GLM (international)",
        base_url: "https://api.z.ai/api/paas/v4",
        api_key_env: "ZAI_API_KEY",
        quirks: Quirks {
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "moonshot",
        label: "Moonshot Kimi (mainland China)",
        base_url: "https://api.moonshot.cn/v1",
        api_key_env: "MOONSHOT_API_KEY",
        quirks: Quirks {
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "moonshot-intl",
        label: "Moonshot Kimi (international)",
        base_url: "https://api.moonshot.ai/v1",
        api_key_env: "MOONSHOT_API_KEY",
        quirks: Quirks {
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "minimax",
        label: "MiniMax (mainland China)",
        base_url: "https://api.minimaxi.com/v1",
        api_key_env: "MINIMAX_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "minimax-intl",
        label: "MiniMax (international)",
        base_url: "https://api.minimax.io/v1",
        api_key_env: "MINIMAX_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "doubao",
        label: "Doubao (Volcengine Ark, mainland China)",
        base_url: "https://ark.cn-beijing.volces.com/api/v3",
        api_key_env: "ARK_API_KEY",
        quirks: Quirks {
            embeddings: true,
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "byteplus",
        label: "BytePlus ModelArk (international)",
        base_url: "https://ark.ap-southeast.bytepluses.com/api/v3",
        api_key_env: "ARK_API_KEY",
        quirks: Quirks {
            embeddings: true,
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "hunyuan",
        label: "Tencent Hunyuan (mainland China)",
        base_url: "https://api.hunyuan.cloud.tencent.com/v1",
        api_key_env: "HUNYUAN_API_KEY",
        quirks: Quirks {
            embeddings: true,
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "hunyuan-intl",
        label: "Tencent Hy (TokenHub, international)",
        base_url: "https://tokenhub-intl.tencentcloudmaas.com/v1",
        api_key_env: "TOKENHUB_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "stepfun",
        label: "StepFun (mainland China)",
        base_url: "https://api.stepfun.com/v1",
        api_key_env: "STEPFUN_API_KEY",
        quirks: STEPFUN,
    },
    Preset {
        name: "stepfun-intl",
        label: "StepFun (international)",
        base_url: "https://api.stepfun.ai/v1",
        api_key_env: "STEPFUN_API_KEY",
        quirks: STEPFUN,
    },
    Preset {
        name: "lingyiwanwu",
        label: "01.AI Yi (Lingyiwanwu, mainland China)",
        base_url: "https://api.lingyiwanwu.com/v1",
        api_key_env: "YI_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "01ai",
        label: "01.AI Yi (international)",
        base_url: "https://api.01.ai/v1",
        api_key_env: "YI_API_KEY",
        quirks: HOSTED,
    },
    Preset {
        name: "qianfan",
        label: "Baidu Qianfan (v2, mainland China)",
        base_url: "https://qianfan.baidubce.com/v2",
        api_key_env: "QIANFAN_API_KEY",
        quirks: Quirks {
            embeddings: true,
            reasoning_content: true,
            ..HOSTED
        },
    },
    Preset {
        name: "cohere",
        label: "Cohere (OpenAI compatibility API)",
        base_url: "https://api.cohere.ai/compatibility/v1",
        api_key_env: "COHERE_API_KEY",
        quirks: Quirks {
            embeddings: true,
            ..HOSTED
        },
    },
    Preset {
        name: "lmstudio",
        label: "LM Studio (local)",
        base_url: "http://127.0.0.1:1234/v1",
        api_key_env: "LMSTUDIO_API_KEY",
        quirks: LOCAL,
    },
    Preset {
        name: "vllm",
        label: "vLLM (local)",
        base_url: "http://127.0.0.1:8000/v1",
        api_key_env: "VLLM_API_KEY",
        quirks: Quirks {
            reasoning_content: true,
            ..LOCAL
        },
    },
];

/// The preset called `name` (case-insensitive; `_` and `-` are the same).
pub fn preset(name: &str) -> Option<&'static Preset> {
    let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
    PRESETS.iter().find(|p| p.name == wanted)
}

/// The preset names, comma-separated (for error messages).
pub fn names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}
