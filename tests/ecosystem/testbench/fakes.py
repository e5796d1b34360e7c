"""Fakes that speak real wire formats: an OpenAI-compatible ``/v1/embeddings`` server, a judge.

The embeddings server returns deterministic bag-of-words vectors (hashed stemmed-ish words), so
texts sharing words get similar vectors -- enough to check ordering through the provider path --
and records every request so tests can see batching and the bearer token.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ecosystem.service import serve_in_thread

DIM = 64


def bag_of_words_vector(text: str) -> list[float]:
    vector = [0.0] * DIM
    for word in text.lower().replace(".", " ").replace(",", " ").split():
        digest = hashlib.sha256(word[:5].encode()).digest()
        vector[digest[0] % DIM] += 1.0
    return vector


class FakeEmbeddingsServer:
    def __init__(self, *, fail_with: int | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        self.fail_with = fail_with
        self.app = FastAPI()

        @self.app.post("/v1/embeddings")
        async def embeddings(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            self.auth_headers.append(request.headers.get("authorization"))
            if self.fail_with is not None:
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=self.fail_with,
                                    headers={"Retry-After": "7"})
            inputs = body["input"]
            data = [
                {"object": "embedding", "index": i, "embedding": bag_of_words_vector(text)}
                for i, text in reversed(list(enumerate(inputs)))  # out of order on purpose
            ]
            return JSONResponse({"object": "list", "data": data, "model": body["model"],
                                 "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    @contextmanager
    def running(self) -> Iterator[str]:
        with serve_in_thread(self.app) as url:
            yield url


class FakeJudge:
    """``async (prompt) -> str`` returning canned answers in order; records the prompts it saw."""

    def __init__(self, *answers: str | dict[str, Any] | Exception, model: str = "fake-judge-1") -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.model = model

    async def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, str) else json.dumps(answer)
