"""OpenAI's fine-tuning API served on your own hardware: files, jobs, the worker that trains.

    uploads.py   multipart uploads streamed to disk, size-capped, checked as JSONL
    checks.py    a job's files checked with the messages OpenAI gives for the classic mistakes
    dataset.py   an upload turned into a dataset version (the data stage, with the server's gates)
    config.py    the `serve.fine_tuning` section

The web process only stores files and enqueues jobs; `tunewise worker` validates and trains.
"""
