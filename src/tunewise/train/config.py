"""Configuration of the training stage (the `train:` section of tunewise.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class LoraConfig(_Section):
    r: int = Field(16, gt=0)
    """LoRA rank."""
    alpha: int = Field(32, gt=0)
    """LoRA scaling numerator (scale = alpha / r)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the LoRA input."""
    target_modules: list[str] = Field(
        default_factory=lambda: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ]
    )
    """Module names that get adapters."""


class RehearsalConfig(_Section):
    """Rehearsal against forgetting: the base model's own answers to general prompts, mixed into
    training so the fine-tune keeps answering them as the base did (SFT methods only)."""

    enabled: bool = True
    """Mix rehearsal rows into training (lora, qlora, full; DPO trains on preferences only). On by
    default from measurement (bench/rehearsal.py): without it the gate's forgetting rule blocked the
    fine-tune on both the quickstart (general suite 49.6% -> 20.0%) and Banking77 (-> 2.4%); with
    share 0.25 the drops were within noise (-0.8 and -3.2 pts), at 4.5-6 pts of task accuracy."""
    share: float = Field(0.25, ge=0, le=0.75)
    """Share of each epoch's rows that are rehearsal rows (0.25: one in four)."""
    pool: str = "builtin"
    """General prompts: 'builtin' (320 written for tunewise, disjoint from the forgetting suite) or a
    JSONL file of {"prompt": ...} or {"messages": [...]} lines."""
    pool_size: int = Field(320, gt=0)
    """Most distinct prompts used (a seeded order of the pool); answers are generated only for the
    prompts a run needs, once per base model, and cached (TUNEWISE_CACHE/rehearsal/)."""
    max_new_tokens: int = Field(128, gt=0)
    """Answer budget when generating; answers cut off by it are left out."""


class BedrockConfig(_Section):
    """Hosted fine-tuning on Amazon Bedrock (`tunewise train --backend bedrock`)."""

    base_model: str | None = None
    """Bedrock base model id to customize (e.g. `amazon.nova-micro-v1:0:128k`); None: `train.base`."""
    family: Literal["nova", "llama3.2", "claude-3-haiku", "llama3.1", "titan"] | None = None
    """Data format and hyperparameter names; None: read from the model id."""
    role_arn: str | None = None
    """IAM role Bedrock assumes to read the data and write the output (docs/training.md)."""
    bucket: str | None = None
    """S3 bucket for the converted train/validation files and the job's output."""
    prefix: str = "tunewise"
    """Key prefix inside the bucket; each job writes under PREFIX/JOB_NAME/."""
    region: str | None = None
    """AWS region; None: AWS_REGION / AWS_DEFAULT_REGION / the profile's region."""
    custom_model_name: str | None = None
    """Name of the custom model Bedrock creates; None: DATASET-JOB_ID."""
    hyperparameters: dict[str, str | int | float] = Field(default_factory=dict)
    """Bedrock hyperparameters by their Bedrock names (e.g. learningRateMultiplier); they win over
    the values mapped from this train section."""
    poll_seconds: float = Field(30.0, gt=0)
    """First wait between status polls; it grows 1.5x while nothing changes."""
    max_poll_seconds: float = Field(300.0, gt=0)
    """Longest wait between status polls."""


class OpenAIConfig(_Section):
    """Hosted fine-tuning through OpenAI's fine-tuning API (`tunewise train --backend openai`), or
    any server speaking it (`tunewise serve` with a worker)."""

    model: str | None = None
    """Base model to fine-tune there (e.g. `gpt-4o-mini-2024-07-18`); None: `train.base`."""
    base_url: str | None = None
    """API root (e.g. `http://127.0.0.1:8000/v1` for tunewise serve); None: OPENAI_BASE_URL, else OpenAI."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key."""
    organization: str | None = None
    """OpenAI organization id to bill; None: the key's default."""
    suffix: str | None = Field(None, min_length=1, max_length=64)
    """Up to 64 characters added to the fine-tuned model's name (`ft:BASE:ORG:SUFFIX:ID`)."""
    batch_size: int | Literal["auto"] = "auto"
    """Examples per batch there; auto lets the provider choose (train.batch_size is for local runs)."""
    learning_rate_multiplier: float | Literal["auto"] = "auto"
    """Scale of the provider's learning rate; auto lets it choose."""
    poll_seconds: float = Field(10.0, gt=0)
    """First wait between status polls; it grows 1.5x while nothing changes."""
    max_poll_seconds: float = Field(120.0, gt=0)
    """Longest wait between status polls."""


class TrainConfig(_Section):
    """Fine-tuning settings (local, or hosted through `backend`)."""

    base: str = "smollm2-135m"
    """Base model: `smollm2-135m` (bundled), a local Hugging Face folder, or a hub id."""
    backend: str = "local"
    """Where jobs run: local (this machine), openai (OpenAI's fine-tuning API, see `openai`) or
    bedrock (Amazon Bedrock, see `bedrock`)."""
    method: Literal["lora", "qlora", "full", "dpo"] = "lora"
    epochs: int | Literal["auto"] = "auto"
    """Epochs; auto picks from the data size: OpenAI's heuristic (3, more below 100 rows), raised to
    give small datasets at least 100 optimizer steps (at most 10 epochs; hosted jobs: the provider's)."""
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(8, gt=0)
    """Rows per optimizer step before accumulation."""
    gradient_accumulation: int = Field(1, gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    max_length: int = Field(512, gt=0)
    """Longest row in tokens."""
    excess_length: Literal["drop", "truncate", "error"] = "truncate"
    """What to do with rows longer than max_length (counts are reported)."""
    seed: int = 0
    """Seed for weights init, dropout and data order (a resumed run replays the same order)."""
    lora: LoraConfig = Field(default_factory=LoraConfig)
    init_adapter: str | None = None
    """Start the LoRA weights from this adapter folder (same rank and target modules) instead of
    fresh ones: continued fine-tuning (lora, qlora). `tunewise retrain` sets it to the production
    model's adapter (monitor.retrain.warm_start)."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay on the trained parameters."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip gradients to this norm (None: no clipping)."""
    eval_interval: int | None = Field(None, gt=0)
    """Optimizer steps between validation-loss evaluations; None: once per epoch."""
    early_stopping_patience: int | None = Field(2, gt=0)
    """Stop after this many evaluations in a row with a higher validation loss than the best; None: never.
    The adapter written is the one with the best validation loss."""
    max_steps: int | None = Field(None, gt=0)
    """Stop after this many optimizer steps (smoke runs, benchmarks); None: run all epochs."""
    checkpoint_steps: int | None = Field(None, gt=0)
    """Also checkpoint every this many optimizer steps (a checkpoint is always written each epoch)."""
    keep_checkpoints: int = Field(2, gt=0)
    """How many of the latest checkpoints to keep."""
    compute_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Matmul precision: auto uses bf16 (frozen bf16 base, fp32 adapters, bf16 autocast) where the
    hardware has native bf16 (CUDA, or a CPU with AMX/AVX512-BF16) and fp32 elsewhere, where
    emulated bf16 is several times slower."""
    packing: bool = True
    """Lay each batch out without padding and run the rows' common prefix (chat template, shared
    system prompt) once; losses and gradients are those of unpacked rows. Turned off automatically for
    attention kernels that take no custom masks."""
    num_threads: int | None = Field(None, gt=0)
    """CPU threads for torch; None: the cores this process may use."""
    rehearsal: RehearsalConfig = Field(default_factory=RehearsalConfig)
    """Mix in the base model's own answers to general prompts, against forgetting."""
    dpo_beta: float = Field(0.1, gt=0)
    """DPO temperature (method: dpo)."""
    tracking: Literal["auto", "none", "mlflow", "wandb"] = "auto"
    """Send params, per-step metrics and the adapter to MLflow or Weights & Biases. auto follows
    transformers' convention: MLflow when MLFLOW_TRACKING_URI is set, W&B when WANDB_PROJECT is."""
    tracking_project: str | None = None
    """MLflow experiment or W&B project name; MLFLOW_EXPERIMENT_NAME / WANDB_PROJECT win over it;
    None: the dataset folder's name."""
    bedrock: BedrockConfig = Field(default_factory=BedrockConfig)
    """Amazon Bedrock settings, used with `backend: bedrock`."""
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)
    """OpenAI fine-tuning API settings, used with `backend: openai`."""

    @model_validator(mode="after")
    def _init_adapter_needs_lora(self) -> TrainConfig:
        if self.init_adapter and self.method not in ("lora", "qlora"):
            raise ValueError(
                f"init_adapter continues a LoRA adapter; method {self.method} cannot use it"
            )
        return self
