"""The agent loop: plan, check, execute (in parallel where independent), reflect, answer.

>>> runner = AgentRunner(settings, gateway=gw, registry=tools, store=runs, handoffs=inbox)
>>> for event in runner.start("What is 17% of the Q3 total?", collection="finance"):
...     print(event.kind, event.to_dict())                                  # doctest: +SKIP

A run is a sequence of **turns**. In each turn the model (through the gateway, with a
llama.cpp grammar built from the tools' JSON schemas, so even a small model writes only
calls that exist) replies ``{"actions": [...], "answer": ""}`` (steps to run) or
``{"actions": [], "answer": "..."}`` (done):

1. **Check.** The steps are checked as a whole before any runs
   (:func:`ragline.agent.plan.validate_plan`: tools exist and are allowed, arguments
   validate, dependencies resolve, no cycle, not too many). A plan with problems goes back
   to the model with them, at most ``agent.plan_reasks`` times; then the run ends
   ``failed`` (or ``refused`` when the last plan still asked for a forbidden tool).
2. **Execute.** Steps run in dependency order, independent ones at once (threads, at most
   ``agent.parallel_steps``). A step's arguments may use earlier outputs (``${s1}``). A step
   that fails (raises, times out, returns something that is not JSON) is recorded with its
   error, and the steps that depend on it are skipped. A step whose tool has
   ``side_effects=True`` never runs without a person's approval: the run opens an
   ``approval`` item in the handoff inbox, saves its checkpoint and pauses (status
   ``waiting``); :meth:`AgentRunner.resume` goes on once the item says approved, and stops
   the run (status ``rejected``) once it says rejected (:mod:`ragline.agent.approval`).
3. **Reflect.** The next turn shows the model every result and error: it revises the plan
   (new steps) or writes the answer. At most ``agent.reflection_rounds`` revisions; the
   last turn's grammar allows only an answer. The answer's sources are those of the
   steps' outputs (a search's hits).

**Budgets** (``max_steps``, ``max_seconds``, ``max_tokens``, ``max_spend``;
:mod:`ragline.agent.budget`) are checked before every model call and every step; the first
that runs out stops the run (status ``stopped``) with what it has, and says which budget and
why. **Checkpoints**: the state (:class:`~ragline.agent.state.RunState`) is saved in the
store at every turn and step, so a run that crashed goes on with :meth:`AgentRunner.resume`
(a step that was running when it crashed runs again, unless its tool has side effects: then
it is recorded as interrupted, never repeated behind the person's back).

Every turn, check, step, approval wait and budget stop is a span of the run's trace and an
event (:mod:`ragline.agent.events`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragline.agent.approval import verdict
from ragline.agent.budget import BudgetMeter, Budgets, BudgetStop, CallAllowance
from ragline.agent.events import (
    AgentEvent,
    AgentOutcome,
    ApprovalWaiting,
    BudgetStopped,
    PlanChecked,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from ragline.agent.outcome import fallback_answer, last_outcome, outcome_of, show_run
from ragline.agent.plan import (
    Plan,
    PlanProblem,
    dependencies,
    problems_text,
    resolve,
    validate_plan,
)
from ragline.agent.state import RunState, StepState
from ragline.agent.turns import TURN, AgentTurn, turn_messages, turn_schema
from ragline.config import Settings
from ragline.errors import ConfigError, ConflictError, RaglineError, ResourceNotFoundError
from ragline.models.chat import SamplingParams
from ragline.models.pricing import Price
from ragline.models.structured import parse_structured
from ragline.prompts import PromptRegistry
from ragline.store.agent_base import AgentRunRecord, AgentRunStore, AgentStepRecord
from ragline.store.handoff_base import HandoffStore
from ragline.trace.tracer import NOOP_TRACER, AnyTracer
from ragline.types import ChatResult

PROMPT = "agent_turn@v1"
#: Seconds past a tool's own timeout before the loop gives up on the step itself.
STEP_GRACE_S = 0.5
#: Runs being driven in this process (a second driver of one run is refused).
_ACTIVE: set[str] = set()
_ACTIVE_LOCK = threading.Lock()


def new_run_id() -> str:
    """``r`` and 12 hex characters."""
    return "r" + secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class _Reply:
    """A worker thread's outcome."""

    key: str
    value: Any = None
    error: BaseException | None = None


def _in_thread(
    fn: Callable[[], Any], key: str, replies: queue.Queue[_Reply], name: str
) -> threading.Thread:
    """Run ``fn`` in a daemon thread with the caller's context (its trace span): a tool or a
    model that hangs is abandoned at the deadline, never joined."""
    ctx = contextvars.copy_context()

    def work() -> None:
        try:
            replies.put(_Reply(key, value=ctx.run(fn)))
        except BaseException as exc:  # handed to the loop, which records it
            replies.put(_Reply(key, error=exc))

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    return thread


class AgentRunner:
    """Runs agent tasks on a gateway, a tool registry, a checkpoint store and an inbox."""

    def __init__(
        self,
        settings: Settings,
        *,
        gateway: Any,
        registry: Any,
        store: AgentRunStore,
        handoffs: HandoffStore | None = None,
        tracer: AnyTracer | None = None,
        prompts: PromptRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.config = settings.agent
        self.gateway = gateway
        self.registry = registry
        self.store = store
        self.handoffs = handoffs
        self.tracer: AnyTracer = tracer if tracer is not None else NOOP_TRACER
        self.prompts = prompts if prompts is not None else PromptRegistry.from_settings(settings)
        self.clock = clock

    # ------------------------------------------------------------------ entry points

    def offered_tools(self, tools: Sequence[str] | None) -> tuple[list[str], list[str]]:
        """The tools a run offers (``tools``, else ``agent.tools``, else all but forbidden),
        and those of ``tools`` that are forbidden. An unknown name is a :class:`ConfigError`."""
        names = list(self.registry.names())
        forbidden = set(self.config.forbidden_tools)
        if tools is None:
            chosen = self.config.tools if self.config.tools is not None else names
            return [n for n in chosen if n in names and n not in forbidden], []
        wanted = [t.strip() for t in tools if t.strip()]
        unknown = [t for t in wanted if t not in names]
        if unknown:
            raise ConfigError(
                f"unknown tool(s): {', '.join(unknown)}",
                hint=f"registered tools: {', '.join(sorted(names)) or 'none'}",
            )
        return [t for t in wanted if t not in forbidden], [t for t in wanted if t in forbidden]

    def start(
        self,
        task: str,
        *,
        collection: str | None = None,
        tools: Sequence[str] | None = None,
        owner: str | None = None,
        model: str | None = None,
        run_id: str | None = None,
        **budgets: Any,
    ) -> Iterator[AgentEvent]:
        """Run a new task; yields its events, the last a :class:`RunFinished`."""
        text = " ".join((task or "").split())
        if not text:
            raise ConfigError("an agent task needs some text", hint='e.g. ragline agent run "…"')
        offered, refused = self.offered_tools(tools)
        limits = Budgets.of(self.config, **budgets)
        state = RunState(
            id=run_id or new_run_id(),
            task=text,
            collection=collection,
            owner=owner,
            model=model or self.config.model,
            tools=offered,
            budgets=limits.to_dict(),
        )
        if refused:
            state.status, state.phase = "refused", "done"
            state.reason = (
                f"tool(s) {', '.join(refused)} may not be called by an agent here "
                f"(agent.forbidden_tools); nothing was run"
            )
        self._save(state)
        yield from self._drive(state, resumed=False)

    def resume(self, run_id: str, *, force: bool = False) -> Iterator[AgentEvent]:
        """Go on with a run from its checkpoint: after an approval was decided, or after a
        crash. A finished run yields its outcome again; a run some process is running is a
        :class:`ConflictError` unless ``force``."""
        record = self.store.load_run(run_id)
        if record is None:
            raise ResourceNotFoundError(
                f"no agent run {run_id!r}", hint="list the runs with `ragline agent list`"
            )
        state = RunState.model_validate(dict(record.state))
        if state.finished:
            yield RunFinished(outcome_of(state))
            return
        with _ACTIVE_LOCK:
            busy = run_id in _ACTIVE
        if state.status == "running" and not force and (busy or state.runner.alive()):
            raise ConflictError(
                f"agent run {run_id} is running in process {state.runner.pid} on "
                f"{state.runner.host}",
                hint="wait for it to end, or pass --force if that process is gone",
            )
        for step in state.current():
            if step.status == "running":  # the process died while it ran
                if step.side_effects:
                    step.status = "error"
                    step.error = (
                        "interrupted: the run stopped while this step ran; it has side "
                        "effects, so it is not run again (check what it did)"
                    )
                else:
                    step.status = "pending"
        state.runner = type(state.runner).here()
        state.status = "running"
        if not self.store.claim_run(self._record(state), expected_updated_at=record.updated_at):
            raise ConflictError(
                f"agent run {run_id} was resumed by another process just now",
                hint=f"see where it stands with `ragline agent show {run_id}`",
            )
        yield from self._drive(state, resumed=True)

    def run(self, task: str, **kwargs: Any) -> AgentOutcome:
        """:meth:`start` to the end; the outcome."""
        return last_outcome(self.start(task, **kwargs))

    def resume_to_end(self, run_id: str, *, force: bool = False) -> AgentOutcome:
        return last_outcome(self.resume(run_id, force=force))

    # ------------------------------------------------------------------ the loop

    def _drive(self, state: RunState, *, resumed: bool) -> Iterator[AgentEvent]:
        with _ACTIVE_LOCK:
            if state.id in _ACTIVE:
                raise ConflictError(f"agent run {state.id} is already running in this process")
            _ACTIVE.add(state.id)
        root = self.tracer.start(
            "agent.run", run_id=state.id, task=state.task, resumed=resumed, tools=state.tools
        )
        trace_id = getattr(root, "trace_id", None) if root.recording else None
        if trace_id and trace_id not in state.trace_ids:
            state.trace_ids.append(trace_id)
        try:
            yield RunStarted(
                state.id, state.task, tuple(state.tools), state.budgets, resumed, trace_id
            )
            meter = BudgetMeter.resume(Budgets(**state.budgets), state.used, self.clock)
            yield from root.iterate(self._loop(state, meter))
            outcome = outcome_of(state)
            root.set(status=state.status, reason=state.reason, **_used_attrs(state.used))
            yield RunFinished(outcome)
        except BaseException as exc:
            root.record_error(exc)
            raise
        finally:
            root.end()
            with _ACTIVE_LOCK:
                _ACTIVE.discard(state.id)

    def _loop(self, state: RunState, meter: BudgetMeter) -> Iterator[AgentEvent]:
        try:
            while state.phase != "done":
                if state.phase == "turn":
                    yield from self._turn(state, meter)
                else:
                    yield from self._execute(state, meter)
                    if state.status == "waiting":
                        return
        except RaglineError as exc:  # the model failed for good (after the gateway's retries)
            state.status, state.phase = "failed", "done"
            state.reason = f"the run failed: {exc}"
            state.answer = fallback_answer(state)
            self.tracer.leaf("agent.error", time.perf_counter_ns(), error=str(exc))
        except Exception as exc:  # a bug: recorded, the run ends failed, the error goes on
            state.status, state.phase = "failed", "done"
            state.reason = f"the run failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            state.used = meter.to_dict()
            self._save(state)

    # ------------------------------------------------------------------ turns

    def _last_round(self, state: RunState) -> bool:
        return state.answer_only or state.round > self.config.reflection_rounds

    def _turn(self, state: RunState, meter: BudgetMeter) -> Iterator[AgentEvent]:
        """One model turn with its re-asks: steps that pass the check, or the answer."""
        last = self._last_round(state)
        steps_left = meter.budgets.max_steps - meter.steps
        max_plan = max(0, min(self.config.max_plan_steps, steps_left))
        messages = self._messages(state, last=last, max_plan=max_plan)
        schema = self._schema(state, last=last, max_plan=max_plan)
        known = set(state.outputs())
        problems: list[PlanProblem] = []
        for attempt in range(self.config.plan_reasks + 1):
            result = yield from self._call(state, meter, messages, schema, f"turn {state.round}")
            if result is None:
                return
            try:
                turn, _ = parse_structured(result.text, TURN)
            except ValueError as exc:
                turn = None
                problems = [PlanProblem("bad_arguments", f"the reply is not a valid plan: {exc}")]
            if turn is not None and turn.actions and not turn.answer.strip() and steps_left <= 0:
                stop = meter.before_step(f"the steps of turn {state.round}")
                if stop is not None:  # the model wants more steps: the step budget ends it
                    yield from self._budget_stop(state, stop)
                    return
            if turn is not None:
                problems = self._check(state, turn, known, max_plan, last)
            self.tracer.leaf(
                "agent.check",
                time.perf_counter_ns(),
                round=state.round,
                attempt=attempt,
                ok=not problems,
                problems=[p.to_dict() for p in problems],
            )
            yield PlanChecked(
                state.round,
                attempt,
                [s.model_dump() for s in turn.actions] if turn is not None else [],
                [p.to_dict() for p in problems],
                turn.answer if turn is not None else "",
            )
            if not problems and turn is not None:
                self._accept(state, turn)
                return
            messages = [
                *messages,
                {"role": "assistant", "content": result.text},
                {
                    "role": "user",
                    "content": "That plan cannot run:\n"
                    + problems_text(problems)
                    + "\nReply again with only the corrected JSON.",
                },
            ]
        forbidden = [p for p in problems if p.kind == "forbidden_tool"]
        state.phase = "done"
        if forbidden:
            state.status = "refused"
            state.reason = "the task needs a tool this run may not call: " + "; ".join(
                str(p) for p in forbidden
            )
        else:
            state.status = "failed"
            state.reason = (
                f"no plan passed its check after {self.config.plan_reasks} re-asks: "
                + "; ".join(str(p) for p in problems)
            )
        state.answer = fallback_answer(state)

    def _check(
        self, state: RunState, turn: AgentTurn, known: set[str], max_plan: int, last: bool
    ) -> list[PlanProblem]:
        if (last or max_plan == 0) and turn.actions:
            if turn.answer.strip():
                turn.actions = []  # no step may run any more: the answer is what counts
                return []
            return [
                PlanProblem(
                    "too_many_steps",
                    "no more steps may run in this run; write the answer from the results",
                )
            ]
        if not turn.actions and not turn.answer.strip():
            return [PlanProblem("empty_plan", "give steps to run, or write the answer")]
        if not turn.actions and self._must_act(state):
            return [
                PlanProblem(
                    "empty_plan",
                    "call at least one tool first: the answer must come from the tools' results",
                )
            ]
        return validate_plan(
            Plan(steps=turn.actions),
            self.registry,
            forbidden=self.config.forbidden_tools,
            allowed=state.tools,
            max_steps=max_plan,
            known=known,
        )

    def _accept(self, state: RunState, turn: AgentTurn) -> None:
        if not turn.actions:
            state.answer = turn.answer.strip()
            state.status, state.phase = "done", "done"
            state.reason = "answered"
            return
        done = {
            _call_key(s.tool, s.resolved or s.arguments) for s in state.steps if s.status == "ok"
        }
        if done and all(_call_key(a.tool, a.arguments) in done for a in turn.actions):
            # only steps that already ran: no progress, so the next turn must answer
            state.answer_only = True
            self.tracer.leaf("agent.no_progress", time.perf_counter_ns(), round=state.round)
            return
        for step in turn.actions:
            state.steps.append(
                StepState(
                    id=step.id,
                    tool=step.tool,
                    arguments=step.arguments,
                    depends_on=dependencies(step),
                    round=state.round,
                    seq=state.next_seq,
                    side_effects=bool(getattr(self.registry.get(step.tool), "side_effects", False)),
                )
            )
            state.next_seq += 1
        state.phase = "execute"
        self._save(state)

    # ------------------------------------------------------------------ model calls

    def _price(self, model: str | None) -> Price | None:
        """The dearest price of the models a call may go to (None: none has a price)."""
        prices = getattr(self.gateway, "prices", None)
        chain = getattr(self.gateway, "chain", None)
        if prices is None or not callable(chain):
            return None
        known = [p for p in (prices.price_of(m) for m in chain(model)) if p is not None]
        if not known:
            return None
        return Price(
            max(p.input_per_million for p in known), max(p.output_per_million for p in known)
        )

    def _call(
        self,
        state: RunState,
        meter: BudgetMeter,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        doing: str,
    ) -> Iterator[AgentEvent] | Any:
        """One model call inside the budgets (a generator: ``yield from`` gives the result,
        or None when a budget stopped the run)."""
        price = self._price(state.model)
        allowance = meter.before_call(messages, self.config.call_max_tokens, price, doing)
        if isinstance(allowance, BudgetStop):
            yield from self._budget_stop(state, allowance)
            return None
        result = self._generate(messages, schema, allowance, state.model, meter)
        if isinstance(result, BudgetStop):
            yield from self._budget_stop(state, result)
            return None
        meter.after_call(messages, result, price)
        state.used = meter.to_dict()
        return result

    def _generate(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        allowance: CallAllowance,
        model: str | None,
        meter: BudgetMeter,
    ) -> ChatResult | BudgetStop:
        params = SamplingParams(
            temperature=self.config.temperature,
            max_tokens=allowance.max_tokens,
            json_schema=schema,
            timeout_s=allowance.timeout_s,
        )
        replies: queue.Queue[_Reply] = queue.Queue()

        def call() -> ChatResult:
            with self.tracer.span("agent.turn", max_tokens=allowance.max_tokens):
                try:
                    return self.gateway.generate(messages, params, model=model)
                except RaglineError as exc:
                    if "grammar" not in str(exc):
                        raise
                    # a tool schema llama.cpp cannot turn into a grammar: any object, checked
                    loose = params.with_(json_schema=TURN.json_schema())
                    return self.gateway.generate(messages, loose, model=model)

        _in_thread(call, "model", replies, "ragline-agent-model")
        try:
            reply = replies.get(timeout=max(allowance.timeout_s, 0.0))
        except queue.Empty:
            return BudgetStop(
                "max_seconds",
                meter.budgets.max_seconds,
                round(meter.seconds, 3),
                "the run's time budget ran out while the model was writing",
            )
        if reply.error is not None:
            raise reply.error
        return reply.value

    # ------------------------------------------------------------------ execution

    def _execute(self, state: RunState, meter: BudgetMeter) -> Iterator[AgentEvent]:
        replies: queue.Queue[_Reply] = queue.Queue()
        running: dict[str, float] = {}  # step id -> deadline (meter clock)
        announced: set[str] = set()  # approval items already announced by this drive
        while True:
            steps = {s.id: s for s in state.current()}
            yield from self._skip_blocked(state, steps)
            waiting = False
            for step in steps.values():
                if (
                    step.status not in ("pending", "waiting")
                    or len(running) >= self.config.parallel_steps
                ):
                    continue
                if not all(
                    steps[d].status == "ok" if d in steps else d in state.outputs()
                    for d in step.depends_on
                ):
                    continue
                if step.side_effects and not step.approved:
                    decided = yield from self._approval(state, step, announced)
                    if decided == "rejected":
                        yield from self._drain(state, running, replies, meter)
                        return
                    if decided == "error":
                        continue
                    if decided != "approved":
                        waiting = True
                        continue
                stop = meter.before_step(f"step {step.id}")
                if stop is not None:
                    yield from self._drain(state, running, replies, meter)
                    yield from self._budget_stop(state, stop)
                    return
                yield from self._launch(state, step, meter, replies, running)
            if not running:
                if waiting:
                    state.status = "waiting"
                    state.reason = "waiting for approval of " + ", ".join(
                        f"step {s.id} ({s.handoff_id})"
                        for s in state.current()
                        if s.status == "waiting"
                    )
                    self._save(state)
                    return
                break
            yield from self._collect(state, running, replies, meter, wait=True)
            if state.phase == "done":
                return
        state.round += 1
        state.phase = "turn"
        self._save(state)

    def _skip_blocked(
        self, state: RunState, steps: Mapping[str, StepState]
    ) -> Iterator[AgentEvent]:
        changed = True
        while changed:
            changed = False
            for step in steps.values():
                if step.status != "pending" and step.status != "waiting":
                    continue
                failed = [
                    d
                    for d in step.depends_on
                    if (
                        d in steps
                        and steps[d].status in ("error", "skipped", "timeout", "rejected")
                    )
                ]
                if failed:
                    step.status = "skipped"
                    step.error = f"skipped: step {', '.join(failed)} did not succeed"
                    changed = True
                    self._record_step(state, step)
                    yield StepFinished(step.id, step.tool, "skipped", None, step.error)

    def _approval(
        self, state: RunState, step: StepState, announced: set[str]
    ) -> Iterator[AgentEvent] | Any:
        """Open (once) and read the step's approval item: approved, rejected or pending."""
        if self.handoffs is None:
            step.status = "rejected"
            step.error = "this tool has side effects and no handoff inbox is set up to approve it"
            self._end_rejected(state, step)
            yield StepFinished(step.id, step.tool, "rejected", None, step.error)
            return "rejected"
        try:
            arguments = self._resolved(state, step)
        except KeyError as exc:
            step.status = "error"
            step.error = f"cannot fill the arguments from earlier outputs: {exc}"
            self._record_step(state, step)
            yield StepFinished(step.id, step.tool, "error", None, step.error)
            return "error"
        if step.handoff_id is None:
            step.resolved = arguments  # what the person approves is what runs
            item = self.handoffs.open_item(
                question=f"Approve step {step.id} of agent run {state.id}: {step.tool}("
                + json.dumps(arguments, ensure_ascii=False, default=str)
                + f")? Task: {state.task} (approve: close with resolution approved, or "
                f"reply approve; reject: reject; then `ragline agent resume {state.id}`)",
                kind="approval",
                collection=state.collection,
                owner=state.owner,
                guard="agent",
                reason=f"tool {step.tool!r} has side effects",
                trace_id=state.trace_ids[-1] if state.trace_ids else None,
                details={
                    "run_id": state.id,
                    "step": step.id,
                    "tool": step.tool,
                    "arguments": arguments,
                    "how": "close with resolution approved/rejected, or reply approve/reject; "
                    f"then `ragline agent resume {state.id}`",
                },
            )
            step.handoff_id = item.id
            step.status = "waiting"
            self._record_step(state, step)
            self._save(state)
            with self.tracer.span(
                "agent.approval", step=step.id, tool=step.tool, handoff_id=item.id
            ):
                pass
            announced.add(item.id)
            yield ApprovalWaiting(step.id, step.tool, arguments, item.id)
            return "pending"
        item = self.handoffs.get_item(step.handoff_id)
        decided = "rejected" if item is None else verdict(item)
        if decided == "pending":
            if step.handoff_id not in announced:
                announced.add(step.handoff_id)
                yield ApprovalWaiting(step.id, step.tool, arguments, step.handoff_id)
            return "pending"
        if item is not None and item.status != "closed":
            self.handoffs.close_item(item.id, author="agent", resolution=decided)
        if decided == "approved":
            step.approved = True
            step.status = "pending"
            return "approved"
        step.status = "rejected"
        step.error = f"a person rejected this step (handoff item {step.handoff_id})"
        self._end_rejected(state, step)
        yield StepFinished(step.id, step.tool, "rejected", None, step.error)
        return "rejected"

    def _end_rejected(self, state: RunState, step: StepState) -> None:
        self._record_step(state, step)
        state.status, state.phase = "rejected", "done"
        state.reason = f"step {step.id} ({step.tool}) was not approved: {step.error}"
        state.answer = fallback_answer(state)

    def _resolved(self, state: RunState, step: StepState) -> dict[str, Any]:
        return resolve(step.arguments, state.outputs())

    def _launch(
        self,
        state: RunState,
        step: StepState,
        meter: BudgetMeter,
        replies: queue.Queue[_Reply],
        running: dict[str, float],
    ) -> Iterator[AgentEvent]:
        if step.side_effects and not step.approved:  # the invariant, checked where it matters
            raise AssertionError(f"step {step.id} has side effects and no approval")
        try:
            arguments = self._resolved(state, step)
        except KeyError as exc:
            step.status = "error"
            step.error = f"cannot fill the arguments from earlier outputs: {exc}"
            self._record_step(state, step)
            yield StepFinished(step.id, step.tool, "error", None, step.error)
            return
        if step.side_effects and arguments != step.resolved:
            step.status = "error"
            step.error = "the arguments changed since they were approved; not run"
            self._record_step(state, step)
            yield StepFinished(step.id, step.tool, "error", None, step.error)
            return
        if not step.side_effects:
            key = _call_key(step.tool, arguments)
            if any(
                _call_key(r.tool, r.resolved or {}) == key for r in (state.step(i) for i in running)
            ):
                return  # the same call is running: this step takes its result once it is done
            same = next(
                (
                    s
                    for s in state.steps
                    if s.status == "ok" and _call_key(s.tool, s.resolved or s.arguments) == key
                ),
                None,
            )
            if same is not None:  # the same read-only call ran: its result, not a new call
                step.resolved, step.status, step.output = arguments, "ok", same.output
                step.latency_ms = 0.0
                self._record_step(state, step)
                yield StepFinished(step.id, step.tool, "ok", step.output, None, 0.0)
                return
        meter.start_step()
        step.resolved = arguments
        step.status = "running"
        state.used = meter.to_dict()
        self._record_step(state, step)
        self._save(state)
        yield StepStarted(step.id, step.tool, arguments)
        tool = self.registry.get(step.tool)
        timeout_of = getattr(self.registry, "timeout_of", None)
        tool_timeout = (
            timeout_of(tool) if callable(timeout_of) else getattr(tool, "timeout_s", None)
        )
        # the registry times the tool out itself (its error is the clearer one): this
        # deadline, a little later, catches a registry that does not, and the run's end
        grace = None if tool_timeout is None else tool_timeout + STEP_GRACE_S
        running[step.id] = meter.clock() + meter.step_timeout(grace)
        step.timeout_s = tool_timeout
        tracer = self.tracer
        registry = self.registry

        def call() -> Any:
            with tracer.span("agent.step", step=step.id, tool=step.tool, round=step.round):
                return registry.call(step.tool, arguments, tracer=tracer)

        _in_thread(call, step.id, replies, f"ragline-agent-{step.id}")

    def _collect(
        self,
        state: RunState,
        running: dict[str, float],
        replies: queue.Queue[_Reply],
        meter: BudgetMeter,
        *,
        wait: bool,
    ) -> Iterator[AgentEvent]:
        """Take the replies that came (waiting for the first one, up to the earliest
        deadline); steps past their deadline end ``timeout``."""
        deadline = min(running.values())
        timeout = max(0.0, deadline - meter.clock()) if wait else 0.0
        got: list[_Reply] = []
        try:
            got.append(replies.get(timeout=timeout))
            while True:
                got.append(replies.get_nowait())
        except queue.Empty:
            pass
        for reply in got:
            if reply.key not in running:
                continue  # a step already given up on (timed out)
            del running[reply.key]
            step = state.step(reply.key)
            step.finish(reply.value, reply.error)
            self._record_step(state, step)
            state.used = meter.to_dict()
            self._save(state)
            yield StepFinished(
                step.id, step.tool, step.status, step.output, step.error, step.latency_ms
            )
        now = meter.clock()
        for step_id, due in list(running.items()):
            if now >= due:
                del running[step_id]
                step = state.step(step_id)
                step.status = "timeout"
                if meter.seconds_left <= 0.05:
                    step.error = "stopped: the run's time budget ran out while this step ran"
                else:
                    step.error = (
                        f"timed out: the tool did not return within {step.timeout_s or 0:g} s"
                    )
                self._record_step(state, step)
                yield StepFinished(step.id, step.tool, "timeout", None, step.error)
        if meter.seconds_left < 0.05 and running:
            yield from self._drain(state, running, replies, meter)
        if meter.seconds_left < 0.05:
            stop = meter.before_step("the next step")
            if stop is not None and stop.budget == "max_seconds":
                yield from self._budget_stop(state, stop)

    def _drain(
        self,
        state: RunState,
        running: dict[str, float],
        replies: queue.Queue[_Reply],
        meter: BudgetMeter,
    ) -> Iterator[AgentEvent]:
        """Wait for the running steps (to their deadlines) before the run stops."""
        while running:
            yield from self._collect(state, running, replies, meter, wait=True)

    # ------------------------------------------------------------------ endings

    def _budget_stop(self, state: RunState, stop: BudgetStop) -> Iterator[AgentEvent]:
        if state.phase == "done":
            return
        state.status, state.phase = "stopped", "done"
        state.stop = stop.to_dict()
        state.reason = stop.reason
        state.answer = fallback_answer(state)
        with self.tracer.span("agent.budget_stop", **stop.to_dict()):
            pass
        yield BudgetStopped(stop)

    # ------------------------------------------------------------------ checkpoints

    def _save(self, state: RunState) -> None:
        self.store.save_run(self._record(state))

    @staticmethod
    def _record(state: RunState) -> AgentRunRecord:
        return AgentRunRecord(
            id=state.id,
            task=state.task,
            status=state.status,
            created_at=state.created_at,
            # microseconds: a resume claims the run only if it was not saved since it was read
            updated_at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            created_ts=state.created_ts,
            owner=state.owner,
            collection=state.collection,
            state=state.model_dump(mode="json"),
        )

    def _record_step(self, state: RunState, step: StepState) -> None:
        self.store.save_step(
            AgentStepRecord(
                run_id=state.id,
                seq=step.seq,
                step_id=step.id,
                tool=step.tool,
                status=step.status,
                data=step.model_dump(mode="json"),
            )
        )

    # ------------------------------------------------------------------ prompts

    def _messages(self, state: RunState, *, last: bool, max_plan: int) -> list[dict[str, str]]:
        return turn_messages(
            self.prompts.get(PROMPT),
            self.registry,
            state,
            forbidden=self.config.forbidden_tools,
            last=last,
            max_plan=max_plan,
        )

    def _schema(self, state: RunState, *, last: bool, max_plan: int) -> dict[str, Any]:
        return turn_schema(
            self.registry, state, last=last, max_plan=max_plan, must_act=self._must_act(state)
        )

    def _must_act(self, state: RunState) -> bool:
        """Whether this turn must plan steps (``agent.require_tools``, first turn)."""
        return self.config.require_tools and not state.steps and bool(state.tools)


def _call_key(tool: str, arguments: Mapping[str, Any]) -> str:
    return tool + json.dumps(arguments, sort_keys=True, ensure_ascii=False, default=str)


def _used_attrs(used: Mapping[str, Any]) -> dict[str, Any]:
    return {f"used_{k}": v for k, v in used.items() if isinstance(v, int | float)}


__all__ = ["PROMPT", "AgentRunner", "last_outcome", "new_run_id", "show_run"]
