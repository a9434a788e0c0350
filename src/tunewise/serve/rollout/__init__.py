"""Canary rollouts judged on live traffic (docs/rollout.md).

`api.py` the library API (start, status, pause/resume/abort); `controller.py` one look and what
it decides; `look.py` the samples and figures of a stage; `judge.py` per-metric comparisons and
stage verdicts; `sequential.py` the confidence sequences; `records.py` what a decision writes;
`lease.py` one controller per feature; `runtime.py` the loop inside `tunewise serve`;
`shadow.py` mirrored traffic; `livejudge.py` the LLM judge on a sample of live answers;
`feedback.py` user ratings; `checklist.py` the pre-deploy checklist; `series.py` and `page.py` the `/ui` page; `simulate.py` simulated rollouts (the
false-alarm check); `tables.py` the tables; `config.py` the `rollout:` section.
"""
