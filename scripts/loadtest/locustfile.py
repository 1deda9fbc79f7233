"""The guide's load test (its "Load Test (Optional)"), with one account per
simulated user: log in, then ask "What is grace?" every 1-3 s.

scripts/loadtest/run creates the accounts (loadtest-N@example.com) and runs
this file headless. LOADTEST_ACCOUNTS=0 is the guide's own variant: every
simulated user logs in as test@example.com and shares its per-user limits,
so it measures the rate limiter, not the server.

Every answer is counted by status in the failures table (a 429 or a 503 is
a refusal, not an error of the test), so the summary says what each limit did.
"""
import itertools
import os

from locust import HttpUser, between, task

ACCOUNTS = int(os.environ.get("LOADTEST_ACCOUNTS", "10"))
PASSWORD = os.environ.get("LOADTEST_PASSWORD", "loadtest-password")
_next_account = itertools.count()


class AssistantUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self):
        if ACCOUNTS == 0:
            email, password = "test@example.com", "password123"
        else:
            email, password = f"loadtest-{next(_next_account) % ACCOUNTS}@example.com", PASSWORD
        response = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        response.raise_for_status()
        self.token = response.json()["access_token"]

    @task
    def query_assistant(self):
        with self.client.post(
            "/api/v1/assistant/query",
            json={"query": "What is grace?"},
            headers={"Authorization": f"Bearer {self.token}"},
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
