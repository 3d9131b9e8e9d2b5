#!/usr/bin/env python3
"""Start moto's HTTP server configured for the ir-forensics integration tests, drill and benchmarks.

usage: python3 emulator/aws/moto-server.py -H 127.0.0.1 -p PORT     (arguments go to moto.server.main)

Normally started by scripts/moto.ts. What it sets up, and why:
  - MOTO_PORT = the listening port: Step Functions' interpreter calls back into the server on
    localhost:$MOTO_PORT, so a stale value from the caller's environment would send those calls elsewhere.
  - stepfunctions.execute_state_machine = true, so state machines really run
    (IRF_MOTO_SFN_EXECUTE=false gives moto's static stub instead).
  - lambda.use_docker = false: Invoke uses moto's Docker-free backend (echo or canned responses).
  - a work-around for moto 5.2.1 bug getmoto/moto#10077 (a second StartExecution in the same
    account and region fails with "cannot pickle '_thread.RLock' object"); harmless where fixed.
  - per-request logging off unless IRF_MOTO_VERBOSE=1 (it costs throughput and floods the log).
  - AWS managed policies loaded (MOTO_IAM_LOAD_MANAGED_POLICIES=true): roles attach them by ARN (the IR
    instance role has AmazonSSMManagedInstanceCore) and the strict layer evaluates their documents.
  - moto's own bucket-policy check off: it evaluates every condition but StringEquals as true (so a
    TLS-only Deny refuses everything) and never grants. The strict layer in front (emulator/strict/)
    evaluates bucket policies as S3 does, so policies are stored exactly as written.
  - refuses to run with MOTO_ACCOUNT_ID set: it would pin every request to one account and defeat
    the per-account x-moto-account-id header the tests rely on.
  - conditional writes made atomic: moto 5.2.1's S3Response.put_object reads the object, compares
    If-Match / If-None-Match, then writes, with no lock, so two concurrent writers holding the same
    ETag can both succeed and one update is lost. S3 decides conditional writes atomically (one wins,
    the other gets 412, or 409 while a conflicting write is in flight), so they are serialized here.
  - DynamoDB requests made atomic: moto 5.2.1's DynamoHandler evaluates a ConditionExpression and then
    writes, and applies ADD / SET as read-modify-write, on the threaded server without a lock. Under
    load two conditional writers of one item both win and concurrent ADDs to one set lose members
    (measured: 16 writers racing for one item, 150 rounds on 2 busy cores: 15 rounds with two or more
    winners, 3 with a lost ADD). DynamoDB applies each item write atomically, so every DynamoDB
    request is serialized here (the case table's leases and queues depend on it).
  - IRF_MOTO_PARENT_PID (set by scripts/moto.ts): exit when that process is gone, so a launcher
    killed with SIGKILL leaves no server behind.
  - IRF_MOTO_LAUNCH_ID (set by scripts/moto.ts): echoed by GET /moto-api/config under "lambda", so
    the launcher knows the server answering on its port is the one it started.
"""

import argparse
import copy
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import threading
import time

SFN_MODELS = "moto.stepfunctions.parser.models"


def fail(message: str) -> None:
    print(f"moto-server: {message}", file=sys.stderr)
    sys.exit(2)


def listening_port(argv: list[str]) -> int:
    # Only read -p/--port here; moto.server.main parses the full argument list itself.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-p", "--port", type=int, default=None)
    known, _ = parser.parse_known_args(argv)
    if known.port is None:
        fail("give the port with -p PORT")
    return known.port


class _CopyWithSeededMemo:
    """Stands in for the `copy` module inside moto's Step Functions models (getmoto/moto#10077).

    StartExecution deep-copies the state machine, which reaches the live executions (holding
    thread locks) through `executions` and `backend`. Pre-seeding deepcopy's memo keeps those out
    of the copy, which is what the upstream fix does; everything else is the real `copy` module.
    """

    def __getattr__(self, name: str):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj, memo=None):
        memo = {} if memo is None else memo
        executions = getattr(obj, "executions", None)
        if isinstance(executions, list):
            memo[id(executions)] = []
        backend = getattr(obj, "backend", None)
        if backend is not None:
            memo[id(backend)] = backend
        return copy.deepcopy(obj, memo)


class _PatchStepFunctionsOnImport(importlib.abc.MetaPathFinder):
    """Patches the Step Functions models when moto first imports them (the ANTLR parser behind them
    is slow to load, so importing it up front would slow every server start)."""

    def find_spec(self, fullname, path, target=None):
        if fullname != SFN_MODELS:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            print("moto-server: step functions patch skipped: module not found as expected", file=sys.stderr)
            return spec
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            if getattr(module, "copy", None) is copy:
                module.copy = _CopyWithSeededMemo()
            else:
                print("moto-server: step functions patch skipped: models no longer use copy", file=sys.stderr)

        spec.loader.exec_module = exec_module
        return spec


def disable_bucket_policy_check() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    if not hasattr(FakeBucket, "get_permission"):
        print("moto-server: bucket policy patch skipped: FakeBucket.get_permission not found", file=sys.stderr)
        return
    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL


def serialize(cls, method: str, applies=lambda self: True) -> None:
    """Has cls.method handle one request at a time (those for which `applies` holds)."""
    original = getattr(cls, method, None)
    if original is None:
        print(f"moto-server: atomicity patch skipped: {cls.__name__}.{method} not found", file=sys.stderr)
        return
    lock = threading.Lock()

    def serialized(self):
        if not applies(self):
            return original(self)
        with lock:
            return original(self)

    setattr(cls, method, serialized)


def serialize_conditional_writes() -> None:
    """S3 conditional PUTs and every DynamoDB request, applied one at a time (see the module's notes)."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response

    conditional = lambda self: self.headers.get("If-Match") is not None or self.headers.get("If-None-Match") is not None  # noqa: E731
    serialize(S3Response, "put_object", conditional)
    serialize(DynamoHandler, "call_action")


def watch_parent(parent_pid: int) -> None:
    # Stop rather than linger as an orphan once the launcher is gone: either this process was
    # re-parented, or (when started through a wrapper that forks) the launcher's PID has vanished.
    first_ppid = os.getppid()

    def gone() -> bool:
        if os.getppid() != first_ppid:
            return True
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def loop() -> None:
        while not gone():
            time.sleep(1)
        print(f"moto-server: launcher {parent_pid} is gone; exiting", file=sys.stderr)
        os._exit(0)

    threading.Thread(target=loop, name="irf-parent-watch", daemon=True).start()


def main() -> None:
    argv = sys.argv[1:]
    if os.environ.get("MOTO_ACCOUNT_ID"):
        fail("MOTO_ACCOUNT_ID is set; it pins every request to one account. Unset it and choose "
             "accounts per request with the x-moto-account-id header.")
    port = listening_port(argv)
    os.environ["MOTO_PORT"] = str(port)
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

    parent = os.environ.get("IRF_MOTO_PARENT_PID")
    if parent:
        watch_parent(int(parent))

    # Imported only now so that moto sees the environment above.
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {
        "execute_state_machine": os.environ.get("IRF_MOTO_SFN_EXECUTE", "true").lower() != "false",
    }
    lambda_config = {"use_docker": False}
    launch_id = os.environ.get("IRF_MOTO_LAUNCH_ID")
    if launch_id:
        lambda_config["irf_launch_id"] = launch_id
    default_user_config["lambda"] = lambda_config

    sys.meta_path.insert(0, _PatchStepFunctionsOnImport())
    disable_bucket_policy_check()
    serialize_conditional_writes()

    if os.environ.get("IRF_MOTO_VERBOSE") != "1":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
