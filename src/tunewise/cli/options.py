"""Command-line options that set config keys, declared once for every command.

Each alias is an `Annotated` type whose option carries its dotted config path: `--lr` is
`LearningRate` and sets `train.learning_rate` in every command that takes it. A command declares
the aliases it accepts plus `ctx: typer.Context`, and builds its config in one line:

    def train(ctx: typer.Context, config: ConfigFile = None, lr: LearningRate = None, ...):
        cfg = load_config(config, overrides(ctx))

The option's callback records a given value under its path as the command line is parsed, so
`overrides(ctx)` returns exactly the options the user gave (flags and `--set PATH=VALUE`) and
`load_config` validates them with the file, naming each bad one by its path (exit code 2).
The aliased parameters look unused in a command's body: their values arrive through
`overrides(ctx)`, never read one by one. A few flags name one stage's own copy of a setting and so differ by command: `--epochs`
(data.epochs in `data`, train.epochs in `train`/`run`), `--seed`, `--batch-size` and `--golden`.
`--help` shows the key behind every flag.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tunewise.errors import ConfigError

_FLAGS = "tunewise.option_overrides"
_SETS = "tunewise.set_overrides"


def config_option(
    path: str,
    *decls: str,
    help: str,
    convert: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> Any:
    """A typer option that sets config key `path` when given (its help names the key)."""

    def record(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        # Options default to None (not given); a lone flag (`--no-forgetting`) to False.
        lone_flag = getattr(param, "is_flag", False) and not getattr(param, "secondary_opts", [])
        if value is not None and value != () and value != [] and not (lone_flag and not value):
            flag = param.opts[0] if param.opts else path
            ctx.meta.setdefault(_FLAGS, {})[path] = (flag, convert(value) if convert else value)
        return value

    return typer.Option(*decls, help=f"{help} Config: `{path}`.", callback=record, **kwargs)


def _record_sets(ctx: typer.Context, value: Any) -> Any:
    if value:
        ctx.meta.setdefault(_SETS, []).extend(value)
    return value


def overrides(ctx: typer.Context, **fixed: Any) -> dict[str, Any]:
    """The `{dotted.path: value}` overrides the user gave to this command (`--set` and the
    config options), plus `fixed` ones the command imposes (`**{"data.pii.mode": "off"}`).

    A path given twice (a flag and `--set`) is an error rather than a silent pick.
    """
    from tunewise.config import parse_assignments

    out = parse_assignments(ctx.meta.get(_SETS, []))
    clashes = []
    for path, (flag, value) in ctx.meta.get(_FLAGS, {}).items():
        if path in out and out[path] != value:
            clashes.append(f"{path}: set by {flag} and by --set; give it once")
        out[path] = value
    if clashes:
        raise ConfigError(f"{len(clashes)} problem(s) in the options:\n  " + "\n  ".join(clashes))
    return {**out, **fixed}


def _absolute(value: Path) -> str:
    """A path given on the command line is relative to the working folder, not the config's."""
    return str(Path(value).expanduser().resolve())


def _epochs(value: str) -> int | str:
    return int(value) if value.strip().isdigit() else value


def _comma_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


# The config file and the generic override, shared by every command that reads a config.
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="tunewise.yaml to read (default: the built-in defaults)."),
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUE",
        callback=_record_sets,
        help="Set any config key, e.g. `--set train.lora.r=8 --set data.pii.mode=report` "
        "(repeatable; VALUE is YAML: `1e-4`, `[q_proj, v_proj]`, `null`; relative paths are "
        "relative to the config file). Applied with the options on top of the file, then all "
        "validated together.",
    ),
]

# data: (tunewise data check|prepare|cost, tunewise run)
DataTarget = Annotated[str | None, config_option("data.target", "--target", help="openai:MODEL, bedrock:FAMILY (nova, claude-3-haiku, llama3.1, ...) or local:MODEL.")]  # fmt: skip
Pii = Annotated[str | None, config_option("data.pii.mode", "--pii", help="report | redact | fail | off.")]  # fmt: skip
SplitGolden = Annotated[Path | None, config_option("data.split.golden_file", "--golden", help="Your own golden set; its prompts are kept out of train.", convert=_absolute)]  # fmt: skip
ValidationShare = Annotated[float | None, config_option("data.split.validation", "--validation-share", help="Share of rows held out for validation (0-1).")]  # fmt: skip
GoldenShare = Annotated[float | None, config_option("data.split.golden", "--golden-share", help="Share of rows held out as the golden set (0-1).")]  # fmt: skip
SyntheticCap = Annotated[float | None, config_option("data.provenance.max_synthetic_share", "--synthetic-cap", help="Largest allowed share of synthetic rows (0-1).")]  # fmt: skip
Provenance = Annotated[str | None, config_option("data.provenance.default", "--provenance", help="human | synthetic | production, for rows without a provenance column.")]  # fmt: skip
Augment = Annotated[bool | None, config_option("data.augment.enabled", "--augment/--no-augment", help="Entity-swap augmentation of train rows (opt-in).")]  # fmt: skip
StratifyBy = Annotated[str | None, config_option("data.split.stratify_by", "--stratify-by", help="Tag name or json:FIELD of the assistant JSON answer.")]  # fmt: skip
SplitSeed = Annotated[int | None, config_option("data.split.seed", "--seed", help="Split seed.")]  # fmt: skip
DataEpochs = Annotated[str | None, config_option("data.epochs", "--epochs", help="Epochs for the cost estimate, or auto.", convert=_epochs)]  # fmt: skip
SystemPrompt = Annotated[str | None, config_option("data.input.system_prompt", "--system-prompt", help="System prompt for rows built from input/output columns.")]  # fmt: skip
TagColumns = Annotated[list[str] | None, config_option("data.input.tag_columns", "--tag-column", help="Column copied into tags (repeatable), e.g. category.", convert=list)]  # fmt: skip
InputColumn = Annotated[str | None, config_option("data.input.input_column", "--input-column", help="Column with the user text in CSV/tabular JSONL.")]  # fmt: skip
OutputColumn = Annotated[str | None, config_option("data.input.output_column", "--output-column", help="Column with the answer in CSV/tabular JSONL.")]  # fmt: skip

# train: (tunewise train, tunewise run; eval and compare take --base)
Base = Annotated[str | None, config_option("train.base", "--base", help="Base model: smollm2-135m, a local Hugging Face folder or a hub id.")]  # fmt: skip
Method = Annotated[str | None, config_option("train.method", "--method", help="lora | qlora | full | dpo.")]  # fmt: skip
TrainEpochs = Annotated[str | None, config_option("train.epochs", "--epochs", help="Epochs, or auto.", convert=_epochs)]  # fmt: skip
LearningRate = Annotated[float | None, config_option("train.learning_rate", "--lr", "--learning-rate", help="Peak learning rate.")]  # fmt: skip
TrainBatchSize = Annotated[int | None, config_option("train.batch_size", "--batch-size", help="Rows per optimizer step before accumulation.")]  # fmt: skip
GradAccum = Annotated[int | None, config_option("train.gradient_accumulation", "--grad-accum", help="Gradient accumulation steps.")]  # fmt: skip
WarmupRatio = Annotated[float | None, config_option("train.warmup_ratio", "--warmup-ratio", help="Share of steps spent warming up.")]  # fmt: skip
MaxLength = Annotated[int | None, config_option("train.max_length", "--max-length", help="Longest row in tokens.")]  # fmt: skip
ExcessLength = Annotated[str | None, config_option("train.excess_length", "--excess-length", help="drop | truncate | error.")]  # fmt: skip
TrainSeed = Annotated[int | None, config_option("train.seed", "--seed", help="Seed for init, dropout and data order.")]  # fmt: skip
LoraR = Annotated[int | None, config_option("train.lora.r", "--lora-r", help="LoRA rank.")]  # fmt: skip
LoraAlpha = Annotated[int | None, config_option("train.lora.alpha", "--lora-alpha", help="LoRA alpha (scale = alpha / r).")]  # fmt: skip
LoraDropout = Annotated[float | None, config_option("train.lora.dropout", "--lora-dropout", help="Dropout on the LoRA input.")]  # fmt: skip
LoraTargets = Annotated[str | None, config_option("train.lora.target_modules", "--lora-targets", help="Comma-separated module names.", convert=_comma_list)]  # fmt: skip
EvalInterval = Annotated[int | None, config_option("train.eval_interval", "--eval-interval", help="Steps between validation evals (default: each epoch).")]  # fmt: skip
Patience = Annotated[int | None, config_option("train.early_stopping_patience", "--patience", help="Early-stopping patience in evaluations.")]  # fmt: skip
MaxSteps = Annotated[int | None, config_option("train.max_steps", "--max-steps", help="Stop after this many optimizer steps.")]  # fmt: skip
CheckpointSteps = Annotated[int | None, config_option("train.checkpoint_steps", "--checkpoint-steps", help="Also checkpoint every this many steps.")]  # fmt: skip
KeepCheckpoints = Annotated[int | None, config_option("train.keep_checkpoints", "--keep-checkpoints", help="How many of the latest checkpoints to keep.")]  # fmt: skip
Dtype = Annotated[str | None, config_option("train.compute_dtype", "--dtype", help="auto | float32 | bfloat16.")]  # fmt: skip
Threads = Annotated[int | None, config_option("train.num_threads", "--threads", help="CPU threads for torch.")]  # fmt: skip
Backend = Annotated[str | None, config_option("train.backend", "--backend", help="Where the job runs: local, openai or bedrock.")]  # fmt: skip
BedrockRole = Annotated[str | None, config_option("train.bedrock.role_arn", "--bedrock-role", help="IAM role ARN Bedrock assumes.")]  # fmt: skip
BedrockBucket = Annotated[str | None, config_option("train.bedrock.bucket", "--bedrock-bucket", help="S3 bucket for Bedrock's data and output.")]  # fmt: skip
BedrockRegion = Annotated[str | None, config_option("train.bedrock.region", "--bedrock-region", help="AWS region for Bedrock.")]  # fmt: skip
OpenAIModel = Annotated[str | None, config_option("train.openai.model", "--openai-model", help="Model to fine-tune on the OpenAI API.")]  # fmt: skip
OpenAIBaseUrl = Annotated[str | None, config_option("train.openai.base_url", "--openai-base-url", help="API root for --backend openai, e.g. a tunewise serve (default OPENAI_BASE_URL).")]  # fmt: skip
Suffix = Annotated[str | None, config_option("train.openai.suffix", "--suffix", help="Hosted jobs: text in the fine-tuned model's name (ft:BASE:ORG:SUFFIX:ID).")]  # fmt: skip
Packing = Annotated[bool | None, config_option("train.packing", "--packing/--no-packing", help="Pack rows without padding, shared prefix computed once.")]  # fmt: skip

# eval: and gate: (tunewise eval, compare, run)
EvalGolden = Annotated[Path | None, config_option("eval.golden", "--golden", help="Golden set JSONL ({id, messages, expected, tags}).", convert=_absolute)]  # fmt: skip
MaxNewTokens = Annotated[int | None, config_option("eval.max_new_tokens", "--max-new-tokens", help="Generation budget per answer.")]  # fmt: skip
EvalBatchSize = Annotated[int | None, config_option("eval.batch_size", "--batch-size", help="Prompts per batch for local models.")]  # fmt: skip
Cache = Annotated[bool | None, config_option("eval.cache", "--cache/--no-cache", help="Reuse cached generations.")]  # fmt: skip
PrimaryMetric = Annotated[str | None, config_option("eval.primary_metric", "--primary-metric", help="Metric the lift rule uses.")]  # fmt: skip
NoForgetting = Annotated[bool, config_option("eval.forgetting_suite", "--no-forgetting", help="Skip the general-capability suite.", convert=lambda _flag: None)]  # fmt: skip
MinLift = Annotated[float | None, config_option("gate.min_lift", "--min-lift", help="Required absolute lift of the primary metric (0.03 = 3 points).")]  # fmt: skip

# run: (tunewise run)
FewShot = Annotated[int | None, config_option("run.few_shot", "--few-shot", help="k for the few-shot baseline (0: zero-shot only).")]  # fmt: skip
TargetScore = Annotated[float | None, config_option("run.target_score", "--target-score", help="Stop before training when a prompt-only variant reaches this score.")]  # fmt: skip

RunTune = Annotated[bool | None, config_option("run.tune", "--tune/--no-tune", help="Search the training settings first (tunewise tune) and train with the best.")]  # fmt: skip

# tune: (tunewise tune, tunewise run)
Budget = Annotated[str | None, config_option("tune.budget", "--budget", help="Wall-clock budget of the search: 20m, 90s, 1h30m.")]  # fmt: skip
Trials = Annotated[int | None, config_option("tune.trials", "--trials", help="Most trials of the search.")]  # fmt: skip

# registry: (tunewise registry ..., the one database's URL)
DbUrl = Annotated[str | None, config_option("registry.url", "--db", "--url", help="Database URL (sqlite:///path.db or postgresql+psycopg://...); it beats TUNEWISE_DB_URL, which beats the file's.")]  # fmt: skip
RegistryGolden = Annotated[Path | None, config_option("registry.golden", "--golden", help="Golden set file defining the current golden set.", convert=_absolute)]  # fmt: skip
StaleDays = Annotated[int | None, config_option("registry.stale_days", "--days", help="Age in days without re-evaluation.")]  # fmt: skip

# rollout: (tunewise rollout start)
RolloutSteps = Annotated[str | None, config_option("rollout.steps", "--steps", help="Canary shares in percent, in order, ending at 100: 5,25,50,100.")]  # fmt: skip
RolloutInterval = Annotated[str | None, config_option("rollout.interval", "--interval", help="Shortest time at each step: 10m, 30s, 1h.")]  # fmt: skip
RolloutMinRequests = Annotated[int | None, config_option("rollout.min_requests", "--min-requests", help="Requests each arm needs before a step can pass.")]  # fmt: skip

# decide: (tunewise decide)
CitesLiveDocuments = Annotated[bool | None, config_option("decide.cites_live_documents", "--cites-live-documents/--no-cites-live-documents", help="Answers must cite live documents.")]  # fmt: skip
FactsChange = Annotated[str | None, config_option("decide.facts_change", "--facts-change", help="never | yearly | monthly | weekly | daily.")]  # fmt: skip
BehaviourStable = Annotated[bool | None, config_option("decide.behaviour_stable", "--stable/--unstable", help="Is the wanted behaviour stable?")]  # fmt: skip
LabelledExamples = Annotated[int | None, config_option("decide.labelled_examples", "--labelled-examples", help="Labelled examples available.")]  # fmt: skip
OutputSchema = Annotated[bool | None, config_option("decide.output_schema", "--output-schema/--free-text", help="Strict output schema?")]  # fmt: skip
DistinctTasks = Annotated[int | None, config_option("decide.distinct_tasks", "--distinct-tasks", help="Distinct tasks served by one endpoint.")]  # fmt: skip
NeedsActions = Annotated[bool | None, config_option("decide.needs_actions", "--needs-actions/--text-only", help="Answers need tool calls?")]  # fmt: skip
LatencyBudgetMs = Annotated[int | None, config_option("decide.latency_budget_ms", "--latency-budget-ms", help="p95 latency budget in ms.")]  # fmt: skip
RequestsPerDay = Annotated[int | None, config_option("decide.requests_per_day", "--requests-per-day", help="Expected requests per day.")]  # fmt: skip
LabelCount = Annotated[int | None, config_option("decide.label_count", "--label-count", help="Distinct labels when every answer is one label (0: free text).")]  # fmt: skip
PromptTokensToday = Annotated[int | None, config_option("decide.prompt_tokens_today", "--prompt-tokens-today", help="Prompt tokens sent per request today.")]  # fmt: skip

# serve: (tunewise serve)
ServeHost = Annotated[str | None, config_option("serve.host", "--host", help="Interface to bind (anything but loopback needs an API key).")]  # fmt: skip
ServePort = Annotated[int | None, config_option("serve.port", "--port", help="TCP port.")]  # fmt: skip
