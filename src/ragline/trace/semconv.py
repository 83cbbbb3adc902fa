"""Names of the spans and attributes ragline records, and how they map to OpenTelemetry.

Span names (a trace's root is the request):

==================  ================================================================
``search``          a search request (root) or the retrieval step of an answer
``ask`` / ``chat``  a grounded answer / a chat turn (roots; recorded by ``ragline.answer``)
``embed``           query embedding (OTel ``embeddings {model}``)
``retrieve.bm25``   one retriever's ranking (also ``retrieve.dense``)
``fusion``          merging the retrievers' lists
``fetch``           reading the winning chunks from the store
``rerank``          the reranking slot
``prompt``          building the prompt (template name and version)
``generation``      a chat-model call (OTel ``chat {model}``, kind CLIENT)
``checks``          guardrails and citation checks on the answer
==================  ================================================================

Plain attribute names (``query``, ``answer`` …) are ragline's own and are exported with a
``ragline.`` prefix; ``gen_ai.*`` names follow the OpenTelemetry GenAI semantic conventions.
"""

from __future__ import annotations

# --- ragline attributes on the root span (read into the trace summary) ---------------------
QUERY = "query"
ANSWER = "answer"
COLLECTION = "collection"
CONVERSATION_ID = "conversation_id"
TURN = "turn"
ABSTAINED = "abstained"
MODE = "mode"
PROMPT_TEMPLATE = "prompt.template"
PROMPT_VERSION = "prompt.version"
PROMPT_SHA256 = "prompt.sha256"
# --- generation spans ----------------------------------------------------------------------
COST = "cost_usd"
TTFT = "ttft_s"
TPOT = "tpot_s"
FIRST_TOKEN_NS = "first_token_ns"
INPUT = "input"
OUTPUT = "output"
# Attributes that hold user or document text: dropped when ``capture_text`` is off.
TEXT_KEYS = frozenset({QUERY, ANSWER, INPUT, OUTPUT, "prompt", "messages", "hits", "comment"})

# --- OpenTelemetry GenAI semantic conventions ----------------------------------------------
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_TOP_P = "gen_ai.request.top_p"
GEN_AI_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_SEED = "gen_ai.request.seed"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_DATA_SOURCE = "gen_ai.data_source.id"

# Span names whose OTLP export is named ``{gen_ai.operation.name} {model}``.
GENERATION = "generation"
EMBED = "embed"


def otel_name(span_name: str, attributes: dict[str, object]) -> str:
    """The span name to export: GenAI spans are ``{operation} {model}``."""
    op = attributes.get(GEN_AI_OPERATION)
    model = attributes.get(GEN_AI_REQUEST_MODEL)
    if op and model:
        return f"{op} {model}"
    return span_name


def otel_key(key: str) -> str:
    """Attribute key to export: namespaced keys as they are, plain ones under ``ragline.``."""
    return key if key.startswith(("gen_ai.", "ragline.", "error.", "server.")) else f"ragline.{key}"
