"""One client path for every judge: the ``openai`` package against an OpenAI-compatible endpoint.

A judge is ``openai:<base_url>#<model>`` (any OpenAI-compatible server); a ``local:<MODEL>`` judge runs
in evalkit's engine instead (:mod:`evalkit.judge.engine_judge`). What this module adds over the bare
``openai`` client:

- **a cache in the store**: each judgment is stored in the request cache under the judge's
  fingerprint (a hash of the endpoint URL and the model name, as for any endpoint) and a hash of
  the prompt version, the rendered messages and the sampling parameters; a rerun of the same
  judgments makes no call, another judge (endpoint or model) makes new ones. Each answer is
  written as it arrives, so a killed run resumes where it stopped;
- **retries** (:class:`RetryPolicy`) on 429 (honouring ``Retry-After``), 5xx, connection errors,
  timeouts and unreadable bodies, with exponential backoff and full jitter, bounded both in
  attempts and in seconds per judgment; the ``openai`` package's own retries are off so that
  these bounds are the only ones;
- **concurrency**: ``concurrency`` calls in flight at once (a thread pool);
- **a budget**: at most ``max_requests`` judge calls (retries of one judgment are not counted:
  rate limits and server errors are not billed); the calls beyond it are refused with one line,
  after what fits in the budget was judged and cached.

Two kinds of call share all of this: :meth:`OpenAIJudgeClient.complete_many` (the judge's text) and
:meth:`OpenAIJudgeClient.choice_logprobs` (the verdict-first protocol: one one-token completion per
request, whose first token's ``top_logprobs`` give each choice's log-probability). An endpoint that
returns no log-probabilities (``transformers serve``) is found on the first choice call, said once,
and answered ``None`` from then on, so the caller falls back to reading text.

:func:`probe` checks, before any answer is generated, that the endpoint answers ``GET /models``
and accepts the key, so that a bad judge costs one line, not a generation run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from evalkit.errors import UserError
from evalkit.judge.interfaces import ChoiceRequest, JudgeRequest
from evalkit.models.fingerprint import text_fingerprint
from evalkit.store import Store

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

#: How many first tokens a choice call asks for: OpenAI's maximum, so that whitespace variants of
#: a label (``"A"``, ``" A"``) are all seen.
TOP_LOGPROBS = 20
#: The version of a choice call's cache key: bump it when what a call asks for changes meaning.
CHOICE_KEY_VERSION = 1

_Answer = TypeVar("_Answer")  # what one call answers: a text, or a choice call's log-probabilities


@dataclass(frozen=True)
class JudgeSpec:
    """A parsed ``--judge``: ``openai:<base_url>#<model>`` or ``local:<MODEL>``."""

    spec: str
    kind: str  # "openai" | "local"
    base_url: str | None = None  # openai only; a local judge's URL is known once its server runs
    model: str | None = None  # the API model name (openai) or the model spec (local)


def parse_judge_spec(spec: str) -> JudgeSpec:
    """The judge named by ``--judge``, or a one-line :class:`UserError` saying which forms exist."""
    if spec.startswith("local:") and spec.removeprefix("local:").strip():
        return JudgeSpec(spec, "local", model=spec.removeprefix("local:").strip())
    if spec.startswith("reward:") and spec.removeprefix("reward:").strip():
        return JudgeSpec(spec, "reward", model=spec.removeprefix("reward:").strip())
    if spec.startswith("openai:"):
        base_url, _, model = spec.removeprefix("openai:").partition("#")
        parts = urlsplit(base_url)
        if parts.scheme in ("http", "https") and parts.netloc and model.strip():
            return JudgeSpec(spec, "openai", base_url=base_url.rstrip("/"), model=model.strip())
    raise UserError(f"--judge {spec!r}: expected openai:<base_url>#<model> (an OpenAI-compatible endpoint), "
                    "local:<MODEL> (a checkpoint judged in evalkit's engine) or reward:<PATH> (a reward model "
                    "comparing the answers' scores)")


def resolve_api_key(base_url: str, key: str | None, source: str) -> str:
    """The key to send, or a one-line :class:`UserError` when a remote endpoint gets none.

    ``source`` names where the key was looked for (``OPENAI_API_KEY`` or the ``--api-key-env``
    variable). A loopback server (``transformers serve``, a local vLLM) needs no key: it gets a
    placeholder, since the ``openai`` package refuses an empty one.
    """
    if key:
        return key
    if (urlsplit(base_url).hostname or "") in LOOPBACK_HOSTS:
        return "EMPTY"
    raise UserError(f"judge {base_url}: no API key: {source} is not set (set it, or name another variable "
                    "with --api-key-env NAME)")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried. Every number bounds something a user waits for or pays.

    Attempt ``n`` (0-based) that fails waits ``uniform(0, min(max_delay_s, base_delay_s * 2**n))``
    ("full jitter": concurrent clients that failed together do not retry together), or the
    server's ``Retry-After`` when it sends one (capped at ``max_delay_s``). A judgment gives up
    after ``max_attempts`` attempts or once ``total_s`` seconds have passed since its first
    attempt, whichever comes first; each attempt waits at most ``timeout_s`` for the answer.
    """

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    total_s: float = 180.0
    timeout_s: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


@dataclass
class JudgeStats:
    """What a client did: ``calls`` answered by the endpoint, ``cached`` from the store."""

    calls: int = 0
    cached: int = 0
    retries: int = 0  # failed attempts that were retried
    failures: dict[str, int] = field(default_factory=dict)  # failure kind -> count, retried or not


class JudgeUnavailable(UserError):
    """The judge kept failing past the retry policy's bounds (one line; what was judged is cached)."""


class BudgetExhausted(UserError):
    """``--max-requests`` would be exceeded; the calls that fitted were made and cached."""


class _Transient(Exception):
    """A failure worth retrying: ``kind`` names it for the counts, ``retry_after`` is the server's wish."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.kind, self.detail, self.retry_after = kind, detail, retry_after


def judge_fingerprint(base_url: str, model: str) -> str:
    """The store's model fingerprint for a judge: its endpoint and model name, as for any endpoint."""
    return text_fingerprint("judge", base_url.rstrip("/"), model)


def judge_request_key(request: JudgeRequest, prompt_version: str) -> dict[str, Any]:
    """What can change a judgment besides the judge: the prompt version, messages and sampling."""
    key = asdict(request)
    key["messages"] = [list(m) for m in request.messages]
    key["prompt_version"] = prompt_version
    return key


def judge_request_hash(request: JudgeRequest, prompt_version: str) -> str:
    blob = json.dumps(judge_request_key(request, prompt_version), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def choice_request_key(request: ChoiceRequest, prompt_version: str) -> dict[str, Any]:
    """What can change a choice call's answer besides the judge. ``suffix`` is not part of it: an
    endpoint reads only the first token, which the suffix never reaches."""
    return {"kind": "choice_logprobs", "key_version": CHOICE_KEY_VERSION, "prompt_version": prompt_version,
            "messages": [list(m) for m in request.messages], "choices": list(request.choices),
            "top_logprobs": TOP_LOGPROBS}


def choice_request_hash(request: ChoiceRequest, prompt_version: str) -> str:
    blob = json.dumps(choice_request_key(request, prompt_version), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def probe(base_url: str, api_key: str, *, timeout_s: float = 10.0) -> list[str]:
    """The model ids the endpoint lists (``GET /models``), or one line saying why it cannot be used."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=1, timeout=timeout_s)
    try:
        return [m.id for m in client.models.list()]
    except openai.AuthenticationError:
        raise UserError(f"judge {base_url}: the endpoint refused the API key (401): check OPENAI_API_KEY "
                        "or the variable named by --api-key-env") from None
    except openai.APIConnectionError as exc:  # refused, unresolvable, timed out
        raise UserError(f"judge {base_url}: endpoint unreachable ({_first_line(exc)})") from None
    except openai.APIStatusError as exc:
        raise UserError(f"judge {base_url}: GET /models answered {exc.status_code} ({_first_line(exc)})") from None
    finally:
        client.close()


class OpenAIJudgeClient:
    """A :class:`~evalkit.judge.interfaces.JudgeClient` with a store cache, retries, concurrency and a budget."""

    def __init__(self, base_url: str, api_model: str, api_key: str, *, store: Store, prompt_version: str,
                 endpoint: str | None = None, model: str | None = None, fingerprint: str | None = None,
                 concurrency: int = 4, policy: RetryPolicy | None = None, max_requests: int | None = None,
                 rng: random.Random | None = None, sleep: Callable[[float], None] | None = None):
        """A client sending ``api_model`` requests to ``base_url``.

        ``endpoint`` and ``model`` name the judge in records (default: the URL and ``api_model``);
        ``fingerprint`` is its cache identity (default: :func:`judge_fingerprint` of the two). A
        ``local:`` judge passes its checkpoint's fingerprint, since its URL (a free port) changes
        from run to run while its judgments do not. ``prompt_version`` joins every request's key.
        """
        import openai

        self.base_url = base_url.rstrip("/")
        self.api_model = api_model
        self.endpoint = endpoint or self.base_url
        self.model = model or api_model
        self.prompt_version = prompt_version
        self.store = store
        self.concurrency = max(1, concurrency)
        self.policy = policy or RetryPolicy()
        self.max_requests = max_requests
        self.stats = JudgeStats()
        # Whether the endpoint gives log-probabilities: None until a choice call first asks it.
        self.logprobs_supported: bool | None = None
        self.fingerprint = fingerprint or judge_fingerprint(self.endpoint, self.model)
        # Jitter only spreads retries out; a seeded generator keeps tests reproducible.
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0,
                                     timeout=self.policy.timeout_s)

    @property
    def name(self) -> str:
        """``<endpoint>#<model>``: how a judgment records its judge."""
        return f"{self.endpoint}#{self.model}"

    def close(self) -> None:
        self._client.close()

    def complete_many(self, requests: list[JudgeRequest]) -> list[str]:
        """The judge's text for each request, in order; cached ones make no call.

        Raises :class:`BudgetExhausted` when the uncached requests exceed what is left of
        ``max_requests`` (after judging and caching those that fit), and :class:`JudgeUnavailable`
        when one keeps failing past the retry policy (the others answered so far are cached).
        """
        hashes = [judge_request_hash(r, self.prompt_version) for r in requests]
        unique = dict(zip(hashes, requests))
        answers: dict[str, str] = self._cached(list(unique))
        todo, refused = self._within_budget([h for h in unique if h not in answers])

        def keep(h: str, text: str) -> None:
            self.store.cache_put_many(self.fingerprint, [(h, judge_request_key(unique[h], self.prompt_version), text)])
            answers[h] = text

        if todo:
            self._run(todo, lambda h: self._text(unique[h]), keep)
        self._refuse(refused)
        return [answers[h] for h in hashes]

    def choice_logprobs(self, requests: list[ChoiceRequest]) -> list[tuple[float, ...]] | None:
        """Per request, each choice's log-probability as the judge's first token (see
        :func:`first_token_choice_logprobs`), in order; cached ones make no call.

        ``None`` when the endpoint gives no log-probabilities: found on the first call this client
        makes (that answer is not cached), said once on stderr, and from then on ``None`` with no call.
        The caller then reads verdicts from text. Budget and failures are as for :meth:`complete_many`.
        """
        if self.logprobs_supported is False:
            return None
        hashes = [choice_request_hash(r, self.prompt_version) for r in requests]
        unique = dict(zip(hashes, requests))
        answers = {h: _decode_logprobs(v) for h, v in self._cached(list(unique)).items()}
        todo, refused = self._within_budget([h for h in unique if h not in answers])

        def keep(h: str, found: tuple[float, ...] | _NoLogprobs) -> None:
            if isinstance(found, _NoLogprobs):  # only the probe can answer this; nothing to cache
                return
            self.store.cache_put_many(self.fingerprint, [(h, choice_request_key(unique[h], self.prompt_version),
                                                          _encode_logprobs(found))])
            answers[h] = found

        if todo and self.logprobs_supported is None:
            # Probed once, alone: a server without logprobs then costs one call, not a batch.
            probe_hash, todo = todo[0], todo[1:]
            self._run([probe_hash], lambda h: self._first_token(unique[h], probing=True), keep)
            self.logprobs_supported = probe_hash in answers
            if not self.logprobs_supported:
                print(f"judge {self.name}: the judge returns no log-probabilities; verdicts are read from its "
                      "text with the evalkit-judge-v1 prompt", file=sys.stderr)
                return None
        if todo:
            self._run(todo, lambda h: self._first_token(unique[h], probing=False), keep)
        self._refuse(refused)
        return [answers[h] for h in hashes]

    def _cached(self, hashes: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = self.store.cache_get_many(self.fingerprint, hashes)
        self.stats.cached += len(found)
        return found

    def _within_budget(self, todo: list[str]) -> tuple[list[str], int]:
        """The calls that fit in what is left of ``max_requests``, and how many are refused."""
        if self.max_requests is None:
            return todo, 0
        left = max(0, self.max_requests - self.stats.calls)
        return todo[:left], max(0, len(todo) - left)

    def _refuse(self, refused: int) -> None:
        if refused:
            raise BudgetExhausted(
                f"--max-requests {self.max_requests}: budget spent ({self.stats.calls} judge calls made); "
                f"{refused} more judge calls refused. What was judged is cached: rerun with a larger "
                "--max-requests to continue")

    def _run(self, todo: list[str], call: Callable[[str], _Answer], keep: Callable[[str, _Answer], None]) -> None:
        """``call`` for each hash of ``todo`` (with retries, ``concurrency`` at once); ``keep`` stores
        each answer as it arrives, so a killed run keeps every judgment it paid for."""
        from evalkit.progress import progress_bar

        stop = threading.Event()  # set on the first hard failure: queued judgments then make no call
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="judge")
        futures: dict[Future[_Answer | None], str] = {
            pool.submit(self._one, functools.partial(call, h), stop): h for h in todo}
        pending = set(futures)
        bar = progress_bar(None, "judge calls", total=len(todo))
        try:
            while pending:
                # Woken by each call that ends, so its answer is stored at once (a killed run loses
                # only the calls in flight) and the bar's ETA moves.
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                failed = [f for f in done if f.exception() is not None]
                for future in done:  # every answer that arrived is kept, even beside a failure
                    if future not in failed and (answer := future.result()) is not None:
                        keep(futures[future], answer)
                bar.update(len(done))
                if failed:
                    failed[0].result()  # raises the hard failure
        except BaseException as exc:
            stop.set()
            for future in pending:
                future.cancel()
            # After a judge failure, calls already in flight finish (bounded by the policy) and are
            # kept, since they are paid for; after Ctrl-C or SIGTERM, only those already answered.
            patient = isinstance(exc, Exception)
            for future in pending:
                if future.cancelled() or not (patient or future.done()) or future.exception() is not None:
                    continue
                late = future.result()
                if late is not None:
                    keep(futures[future], late)
            pool.shutdown(wait=patient, cancel_futures=True)
            raise
        finally:
            bar.close()
        pool.shutdown(wait=True)

    def _one(self, call: Callable[[], _Answer], stop: threading.Event) -> _Answer | None:
        """One judgment with retries; None when the run stopped before it was sent."""
        started = time.monotonic()
        attempt = 0
        while True:
            if stop.is_set():
                return None
            try:
                answer = call()
            except _Transient as exc:
                with self._lock:
                    self.stats.failures[exc.kind] = self.stats.failures.get(exc.kind, 0) + 1
                attempt += 1
                elapsed = time.monotonic() - started
                delay = self.policy.delay(attempt - 1, exc.retry_after, self._rng)
                if attempt >= self.policy.max_attempts or elapsed + delay > self.policy.total_s:
                    raise JudgeUnavailable(
                        f"judge {self.name}: {exc.kind}: {exc.detail[:200]} (gave up after {attempt} attempts "
                        f"in {elapsed:.1f} s); judgments received so far are cached, rerun to resume") from None
                with self._lock:
                    self.stats.retries += 1
                if self._sleep is not None:
                    self._sleep(delay)
                elif stop.wait(delay):  # a back-off ends early when the run stops
                    return None
                continue
            with self._lock:
                self.stats.calls += 1
            return answer

    def _text(self, request: JudgeRequest) -> str:
        """The text of one completion; a body without it is transient."""
        message = self._create(request.messages, temperature=request.temperature, max_tokens=request.max_tokens)
        content = message.content
        if not isinstance(content, str):
            raise _Transient("unreadable body", "the response's message has no text content")
        return content

    def _first_token(self, request: ChoiceRequest, *, probing: bool) -> tuple[float, ...] | _NoLogprobs:
        """The choices' log-probabilities from one one-token completion's ``top_logprobs``.

        A response without them means the server gives none when ``probing`` (the first call);
        after the server has given some, it is a faulty body, retried like any other.
        """
        choice = self._create(request.messages, temperature=0.0, max_tokens=1, logprobs=True,
                              top_logprobs=TOP_LOGPROBS, choice=True)
        logprobs = getattr(choice, "logprobs", None)
        content = getattr(logprobs, "content", None) if logprobs is not None else None
        top = getattr(content[0], "top_logprobs", None) if content else None
        if not top:
            if probing:
                return _NoLogprobs()
            raise _Transient("unreadable body", "no top_logprobs for the first token in the response")
        return first_token_choice_logprobs([(t.token, t.logprob) for t in top], request.choices)

    def _create(self, messages: tuple[tuple[str, str], ...], *, choice: bool = False, **params: Any) -> Any:
        """One HTTP call: the first choice's message (or the choice itself when ``choice``); transient
        failures become :class:`_Transient`, anything else propagates."""
        import openai

        try:
            response = self._client.chat.completions.create(
                model=self.api_model, messages=[{"role": role, "content": content}  # type: ignore[misc]
                                                for role, content in messages], **params)
        except openai.APITimeoutError as exc:  # a subclass of APIConnectionError: caught first
            raise _Transient("timeout", _first_line(exc)) from None
        except openai.APIConnectionError as exc:
            raise _Transient("connection error", _first_line(exc)) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status == 429:
                raise _Transient("429", _first_line(exc), _retry_after(exc.response)) from None
            if status >= 500:
                raise _Transient(f"{status}", _first_line(exc), _retry_after(exc.response)) from None
            # 400, 401, 404...: retrying cannot help; one line, no traceback.
            raise UserError(f"judge {self.name}: the endpoint answered {status}: {_first_line(exc)[:200]}") from None
        except openai.APIResponseValidationError as exc:
            raise _Transient("unreadable body", _first_line(exc)) from None
        except (json.JSONDecodeError, ValueError, TypeError) as exc:
            raise _Transient("unreadable body", _first_line(exc)) from None
        # A 200 whose body is not a chat completion (a proxy's HTML page, truncated JSON) reads as
        # a str or an object without choices: a transient fault, not an empty judgment.
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise _Transient("unreadable body", f"no choices in the response: {str(response)[:120]!r}")
        return choices[0] if choice else choices[0].message


class _NoLogprobs:
    """What the probe call answers when the server gives no log-probabilities (never cached)."""


def first_token_choice_logprobs(top: list[tuple[str, float]], choices: tuple[str, ...]) -> tuple[float, ...]:
    """Each choice's log-probability from the first token's ``top`` ``(token, logprob)`` list.

    A choice's value is the log-sum-exp of the log-probabilities of the top tokens whose text,
    stripped of whitespace, equals the choice (``"A"``, ``" A"`` and ``"A\\n"`` are one verdict; case
    counts); ``-inf`` when none is in the list (the server only says it is below the last one).
    """
    merged: dict[str, list[float]] = {c: [] for c in choices}
    for token, logprob in top:
        if (label := token.strip()) in merged:
            merged[label].append(logprob)
    return tuple(_logsumexp(merged[c]) for c in choices)


def _logsumexp(values: list[float]) -> float:
    if not values:
        return -math.inf
    peak = max(values)
    return peak + math.log(sum(math.exp(v - peak) for v in values))


def _encode_logprobs(values: tuple[float, ...]) -> list[float | None]:
    """JSON has no infinity (a strict reader, PostgreSQL's json, refuses it): -inf is stored as null."""
    return [None if v == -math.inf else v for v in values]


def _decode_logprobs(stored: list[float | None]) -> tuple[float, ...]:
    return tuple(-math.inf if v is None else float(v) for v in stored)


def _retry_after(response: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds form; the HTTP-date form is rare for APIs)."""
    value = response.headers.get("retry-after") if response is not None else None
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def report_stats(stats: JudgeStats, *, file: Any = None) -> None:
    """The closing line of a judge run: calls made and answered from the cache (on stderr)."""
    failures = ", ".join(f"{k}: {v}" for k, v in sorted(stats.failures.items()))
    print(f"judge calls: {stats.calls} made, {stats.cached} from cache, {stats.retries} retried"
          + (f" ({failures})" if failures else ""), file=file or sys.stderr)
