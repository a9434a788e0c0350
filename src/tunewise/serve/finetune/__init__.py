"""OpenAI's fine-tuning API served on your own hardware: files, jobs, the worker that trains.

    config.py     the `serve.fine_tuning` section
    tables.py     files, the API side of jobs, workers (in the one database)
    uploads.py    multipart uploads streamed to disk, size-capped, checked as JSONL
    files.py      stored files (by id, never by the client's name)
    requests.py   the create-job request and how it becomes a train config
    service.py    create / read / list / cancel / pause / resume, events, checkpoints
    objects.py    OpenAI's job, event, checkpoint and list objects
    queue.py      workers register, claim jobs in order, give them back
    checks.py     a job's files checked with OpenAI's messages for the classic mistakes
    dataset.py    the files made into a dataset version (the data stage, the server's gates)
    validate.py   a claimed job validated and queued (or failed with OpenAI's error)
    worker.py     `tunewise worker`: the loop, one training process per job
    runner.py     that training process: train, stop at a step when asked, register the model
    backend.py    the `api` training backend, for `tunewise jobs` on API jobs

The web process only stores files and enqueues jobs; the worker validates and trains.
"""
