"""The Ray executor of a grid: connect (a head's address and token checked first, one line when either is
wrong), check that every node sees the driver's run folders, train each pending run as a task with the
driver's data root, cancel what is left when the driver stops."""
from __future__ import annotations

import os
from pathlib import Path

from .config import ConfigError
from .work import _train_one

RAY_ENV = ("WGAN_REPRO_DATA", "WGAN_REPRO_CACHE", "WGAN_REPRO_OFFLINE", "MPLBACKEND")


def _sees(path: str, token: str) -> bool:
    """On a worker: the driver's marker file is there (the run folders are on a shared file system)."""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


def run_ray(pending, advance, *, per_gpu: int, ray_address=None, scoring=None, **_):
    """The grid's runs as Ray tasks; the driver's RAY_AUTH_MODE is as it was afterwards, however it ends."""
    mode_before = os.environ.get("RAY_AUTH_MODE")
    try:
        _run_ray(pending, advance, per_gpu=per_gpu, ray_address=ray_address, scoring=scoring)
    finally:
        _restore_auth_mode(mode_before)  # a no-op unless _ray_token_mode set it


def _run_ray(pending, advance, *, per_gpu: int, ray_address=None, scoring=None):
    try:
        import ray
    except ImportError as e:
        raise ConfigError("executor='ray' is not allowed here: ray is not installed "
                          "(pip install -e '.[ray]')") from e
    address = ray_address or os.environ.get("RAY_ADDRESS")
    started = not ray.is_initialized()
    if started:
        _check_listening(address)
        token = _ray_token_mode()
        env = {k: os.environ[k] for k in RAY_ENV if k in os.environ}
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env} if env else None)
        except Exception as e:  # e.g. AuthenticationError from a head with token authentication
            why = str(e).splitlines()[0][:300] if str(e) else ""
            hint = ""
            # something answered at the address (_check_listening): a refused connection is most often the token
            # (Ray reports a token it rejects as "Failed to connect")
            if (type(e).__name__ in ("AuthenticationError", "ConnectionError") or "auth" in why.lower()
                    or "token" in why.lower() or "failed to connect" in why.lower()):
                hint = ("; if the head uses token authentication: " + (
                    f"the driver's ({token}) is not the head's: give this driver the token `ray get-auth-token` "
                    "prints on the head" if token else
                    "this driver has none: set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token) to "
                    "the token `ray get-auth-token` prints on the head"))
            raise ConfigError(f"ray_address={address!r} is not allowed: Ray refused the connection "
                              f"({type(e).__name__}: {why}){hint}") from None
    refs = []
    try:
        _check_shared_folders(ray, pending)
        gpus = 1.0 / per_gpu if ray.cluster_resources().get("GPU", 0) > 0 else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus)(_train_one)
        refs = [task.remote(c.to_dict(), scoring) for c in pending]
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            ray.get(done)
            advance()
    finally:
        for ref in refs:  # a stopped or failed driver leaves no task running on the cluster
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _check_listening(address: str | None, timeout: float = 5.0) -> None:
    """A host:port address where nothing listens is one line at once (Ray itself retries it for minutes)."""
    import socket

    if not address or address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(f"ray_address={address!r} is not allowed: nothing answers at {host}:{port} "
                          f"({e.strerror or type(e).__name__}); start the head there (`ray start --head "
                          f"--port={port}`) or give the address `ray status` shows") from None


def _ray_token_mode() -> str | None:
    """Where this driver's Ray token comes from, if it has one; then RAY_AUTH_MODE=token as well (Ray 2.5x+ sends
    a token only in that mode: a driver given the head's token but not the mode is refused). None: no token.

    Ray reads its configuration once, when `ray` is imported: a mode set in the environment afterwards is not seen
    (its connection is refused as "Failed to connect") until that configuration is read again
    (`_refresh_ray_config`, as Ray's own token set-up does)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        where = "RAY_AUTH_TOKEN"
    elif os.environ.get("RAY_AUTH_TOKEN_PATH") and Path(os.environ["RAY_AUTH_TOKEN_PATH"]).expanduser().is_file():
        where = f"RAY_AUTH_TOKEN_PATH={os.environ['RAY_AUTH_TOKEN_PATH']}"
    elif (Path.home() / ".ray" / "auth_token").is_file():
        where = "~/.ray/auth_token"
    else:
        return None
    if os.environ.get("RAY_AUTH_MODE") is None:
        os.environ["RAY_AUTH_MODE"] = "token"
    _refresh_ray_config()
    return where


def _restore_auth_mode(before: str | None) -> None:
    """The driver's RAY_AUTH_MODE as it was before `_ray_token_mode` (a later local Ray in this process is not
    put in token mode by a grid that ran on a cluster)."""
    if os.environ.get("RAY_AUTH_MODE") == before:
        return
    if before is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = before
    _refresh_ray_config()


def _refresh_ray_config() -> None:
    """Ray's configuration and token cache read again from the environment (as Ray's `_enable_token_auth` and its
    test utilities do); a Ray without them (older versions) reads the environment at connection time anyway."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def _check_shared_folders(ray, pending) -> None:
    """Ray workers write the run folders where the driver reads them: that needs one file system
    (a single machine, or a shared one mounted at the same path). Checked before any training."""
    import secrets

    root = Path(pending[0].out_dir).parent
    root.mkdir(parents=True, exist_ok=True)
    marker, token = root / f".ray-check-{os.getpid()}", secrets.token_hex(8)
    marker.write_text(token)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        check = ray.remote(num_cpus=0)(_sees)
        seen = ray.get([check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                        .remote(str(marker), token) for n in nodes])
    finally:
        marker.unlink(missing_ok=True)
    blind = [n["NodeManagerAddress"] for n, ok in zip(nodes, seen) if not ok]
    if blind:
        raise ConfigError(f"executor='ray' is not allowed here: Ray nodes {', '.join(blind)} do not see {root}; "
                          f"the run folders need a file system shared by the driver and every node, at the same path")


__all__ = ["RAY_ENV", "run_ray"]
