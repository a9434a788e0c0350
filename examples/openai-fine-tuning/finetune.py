# The OpenAI fine-tuning walk-through, unchanged: upload, create, poll, chat with the new model.
# Against tunewise: OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=anything python finetune.py
import time

from openai import OpenAI

client = OpenAI()

training_file = client.files.create(file=open("train.jsonl", "rb"), purpose="fine-tune")
job = client.fine_tuning.jobs.create(
    training_file=training_file.id,
    model="gpt-4o-mini-2024-07-18",
    hyperparameters={"n_epochs": 3},
)
while job.status not in ("succeeded", "failed", "cancelled"):
    time.sleep(5)
    job = client.fine_tuning.jobs.retrieve(job.id)
    print(job.status)
print(job.fine_tuned_model)

completion = client.chat.completions.create(
    model=job.fine_tuned_model,
    messages=[
        {"role": "system", "content": "Classify the support ticket; answer with JSON."},
        {"role": "user", "content": "I was charged twice for order ORD-48213, please refund one."},
    ],
)
print(completion.choices[0].message.content)
