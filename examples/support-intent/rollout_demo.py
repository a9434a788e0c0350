"""Roll out a candidate on the support-intent feature with simulated users, in about two minutes.

    python examples/support-intent/rollout_demo.py                      # a good candidate: promoted
    python examples/support-intent/rollout_demo.py --candidate broken   # 30% prose answers: rolled back
    python examples/support-intent/rollout_demo.py --keep-serving       # then look at /ui

Real: `tunewise data prepare` on the example, the registry (gates, checklist, lineage), the
gateway (`tunewise serve` in this process, the real `openai` SDK as the client), the rollout
controller and its statistics, user feedback through `POST /v1/feedback`. Simulated: the models.
A small OpenAI-compatible server answers each ticket with its labelled JSON answer from
data/tickets.jsonl, right 88% of the time for the control (`sim-support-v1`), 94% for the good
candidate (`sim-support-v2`); the broken one (`sim-support-broken`) answers 30% of tickets with
prose instead of JSON (it slipped past the offline gate). Simulated users send tickets and rate
an answer up when its intent is right.

Everything lands in --workdir (default: a fresh temporary folder); the commands printed at the
end (`tunewise rollout status`, `tunewise registry lineage`) work on it afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import Request  # module level: FastAPI reads the handler's annotation by name

HERE = Path(__file__).resolve().parent
FEATURE = "support-intent"
QUALITY = {"sim-support-v1": 0.88, "sim-support-v2": 0.94, "sim-support-broken": 0.94}
PROSE = "I'm not sure what you mean. Could you describe the problem in more detail?"
INTENTS = [
    "refund",
    "billing",
    "shipping",
    "technical",
    "account",
    "cancellation",
    "product_question",
    "other",
]


def tickets() -> list[tuple[list[dict[str, str]], str]]:
    """(messages without the answer, the labelled JSON answer) of the example's clean tickets."""
    out = []
    for line in (HERE / "data" / "tickets.jsonl").read_bytes().splitlines():
        try:
            row = json.loads(line)
            *prompt, answer = row["messages"]
            json.loads(answer["content"])
        except (ValueError, KeyError, TypeError):
            continue  # the example's planted bad lines
        out.append((prompt, answer["content"]))
    return out


def simulated_models(answers: dict[str, str]) -> Any:
    """An OpenAI-compatible app whose models answer tickets from their labels (see the doc)."""
    from fastapi import FastAPI

    app, rng = FastAPI(), random.Random(7)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "owned_by": "sim"} for m in QUALITY],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        body = await request.json()
        model, ticket = body["model"], body["messages"][-1]["content"]
        answer = answers.get(ticket, '{"intent": "other", "priority": "low"}')
        if model == "sim-support-broken" and rng.random() < 0.3:
            answer = PROSE
        elif rng.random() > QUALITY[model]:
            wrong = json.loads(answer) | {"intent": rng.choice(INTENTS)}
            answer = json.dumps(wrong)
        usage = {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102}
        return {
            "id": f"sim-{rng.randrange(10**9)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "usage": usage,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
        }

    return app


def tw(*args: str) -> str:
    """Run the tunewise CLI (as a user would) and return its output."""
    cmd = [sys.executable, "-m", "tunewise", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"$ tunewise {' '.join(args)}\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def prepare(work: Path, db: str) -> Path:
    """The project config, the dataset version, the simulated models registered and gated."""
    import yaml

    from tunewise.registry import Registry

    raw = yaml.safe_load((HERE / "tunewise.yaml").read_text())
    raw["data"]["inputs"] = [str(HERE / "data" / "tickets.jsonl")]
    raw["data"]["split"]["golden_file"] = str(HERE / "data" / "golden.jsonl")
    raw["data"]["pii"]["engine"] = "regex"  # fast; the example's default finds names too
    raw["registry"] = {"url": db}
    raw["rollout"] = {"steps": [20, 50, 100], "interval": "10s", "min_requests": 100,
                      "tick": "1s", "owner": "support-ml@nimbus.example"}  # fmt: skip
    raw["monitor"] = {"triggers": {"drift": True, "quality_margin": 0.05}}
    config = work / "tunewise.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    print(tw("data", "prepare", "-c", str(config), "--out", str(work / "data")).splitlines()[-1])
    golden = {"golden_sha256": "demo-golden-" + "0" * 52, "feature": FEATURE}
    rules = [{"rule": "bucket_drop", "status": "pass", "detail": "worst bucket intent:billing -1.0 pts"},
             {"rule": "safety", "status": "pass", "detail": "8 safety case(s), none worse"}]  # fmt: skip
    with Registry(db) as reg:
        for model in QUALITY:
            reg.register_model(provider_model_id=model, base="HuggingFaceTB/SmolLM2-135M-Instruct",
                               dataset=str(work / "data"), backend="provider")  # fmt: skip
        reg.record_gate({**golden, "decision": "accept", "candidate": "sim-support-v1", "rules": rules,
                         "baseline": "HuggingFaceTB/SmolLM2-135M-Instruct"})  # fmt: skip
        reg.promote("sim-support-v1", feature=FEATURE, reason="first release")
        for model in ("sim-support-v2", "sim-support-broken"):
            reg.record_gate({**golden, "decision": "accept", "candidate": model,
                             "baseline": "sim-support-v1", "rules": rules})  # fmt: skip
    decision = work / "decision.json"
    decision.write_text(tw("decide", "-c", str(config), "--json"))
    return config


def users(gateway_url: str, stop: threading.Event, answers: dict[str, str], seed: int) -> None:
    """One simulated user population: send tickets, rate answers up when the intent is right."""
    import httpx
    import openai

    client = openai.OpenAI(base_url=gateway_url + "/v1", api_key="demo", max_retries=0)
    rng, pool = random.Random(seed), tickets()
    while not stop.is_set():
        prompt, truth = rng.choice(pool)
        try:
            reply = client.chat.completions.create(
                model=FEATURE,
                messages=prompt,  # type: ignore[arg-type]
                user=f"customer-{rng.randrange(5000)}",
            )
        except openai.APIError:
            continue
        if rng.random() < 0.3:  # some users rate the answer
            try:
                good = (
                    json.loads(reply.choices[0].message.content or "")["intent"]
                    == json.loads(truth)["intent"]
                )
            except (ValueError, KeyError, TypeError):
                good = False
            try:
                httpx.post(
                    gateway_url + "/v1/feedback",
                    json={"response_id": reply.id, "rating": float(good)},
                )
            except httpx.HTTPError:
                continue  # the gateway is shutting down


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidate", choices=["good", "broken"], default="good")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--keep-serving", action="store_true", help="Keep the gateway up at the end (Ctrl-C stops)."
    )
    args = parser.parse_args()

    from tunewise.config import load_config
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig
    from tunewise.serve.rollout.api import rollout_status
    from tunewise.serve.rollout.context import rollout_context
    from tunewise.serve.testing import ServerThread
    from tunewise.store import get_engine

    work = (args.workdir or Path(tempfile.mkdtemp(prefix="tunewise-rollout-demo-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{work / 'tunewise.db'}"
    config = prepare(work, db)
    print(tw("checklist", FEATURE, "sim-support-v2", "-c", str(config)))
    print(tw("checklist", FEATURE, "sim-support-v2", "-c", str(config), "--record", f"decision_record={work / 'decision.json'}",
             "--record", "cost=simulated models: $0").splitlines()[-1])  # fmt: skip

    answers = {p[-1]["content"]: a for p, a in tickets()}
    sims = ServerThread(simulated_models(answers)).start()
    serve = ServeConfig.model_validate({"upstreams": {"sim": {"kind": "openai", "base_url": sims.url + "/v1",
                                        "serves": ["sim-*"], "timeout_s": 10}}, "flags_ttl_s": 0.5})  # fmt: skip
    project = load_config(config)
    gateway = ServerThread(
        create_app(serve, db_url=db, rollout=rollout_context(project, config))
    ).start()
    print(f"tunewise serve is up at {gateway.url}/v1 (page: {gateway.url}/ui)")
    model = "sim-support-v2" if args.candidate == "good" else "sim-support-broken"
    print(tw("rollout", "start", model, "--feature", FEATURE, "-c", str(config), "--shadow", "25"))
    stop = threading.Event()
    crowd = [
        threading.Thread(target=users, args=(gateway.url, stop, answers, i), daemon=True)
        for i in range(4)
    ]
    for t in crowd:
        t.start()
    engine = get_engine(db)
    try:
        while True:
            time.sleep(5)
            st = rollout_status(engine, FEATURE)
            cur = st.get("current") or {}
            arms = cur.get("arms") or {}
            line = f"{st['state']:>11} {st['stage']:<16}"
            if cur.get("shadow"):
                sh = cur["shadow"]
                line += f" shadow pairs {sh['pairs']}, agreement {sh['agreement'] or 0:.0%}"
            for arm, a in arms.items():
                valid = a["scores"].get("json_valid")
                line += f" | {arm} n={a['requests']} json_valid={valid if valid is None else round(valid, 3)} rating={a['rating']}"
            print(line, flush=True)
            if st["state"] not in {"running", "shadow", "paused"}:
                print(f"\n{st['state'].upper()}: {st['outcome']}")
                break
    finally:
        stop.set()
    print(f"\nLook at it:\n  tunewise rollout status {FEATURE} -c {config}\n"
          f"  tunewise registry --db {db} lineage {model} --no-verify")  # fmt: skip
    if args.keep_serving:
        print(f"  {gateway.url}/ui  (Ctrl-C stops)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    gateway.stop()
    sims.stop()


if __name__ == "__main__":
    main()
