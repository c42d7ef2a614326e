"""Typed settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.messages import Language, as_language


def _checkout_data_dir() -> Path:
    """The checkout's `data/` folder, wherever a command is run from, so `zhengming token` in another
    directory finds the keys the running services use instead of making new ones. Outside a checkout
    (an installed package, as in the container image) `./data`, absolute."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "services").is_dir():
        return checkout / "data"
    return Path("data").absolute()


DEFAULT_DATA_DIR = _checkout_data_dir()


class ServiceSettings(BaseSettings):
    """Settings every service has. Build them in `create_app` or an entrypoint, never at import."""

    model_config = SettingsConfigDict(env_prefix="ZM_", extra="ignore")

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(default=3, ge=1, le=1000)
    # How every Kafka client of this service (relay, consumers, topic creation) authenticates. The
    # embedded broker is plaintext on loopback; production refuses PLAINTEXT (see deploy/README.md).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""  # the service's own principal, e.g. ZM_INTAKE_KAFKA_SASL_USERNAME=intake
    kafka_sasl_password_file: Path | None = None
    kafka_ssl_cafile: Path | None = None  # the CA that signed the brokers' certificates
    kafka_ssl_certfile: Path | None = None  # mTLS (security protocol SSL): this service's client certificate
    kafka_ssl_keyfile: Path | None = None

    jwt_public_key_file: Path | None = None
    jwt_private_key_file: Path | None = None
    jwt_issuer: str = "zhengming"
    jwt_audience: str = "zhengming"
    jwt_max_lifetime_hours: int = Field(default=12, ge=1, le=24, description="tokens living longer are refused")

    field_keys_file: Path | None = None
    # This service's own Ed25519 key: signs every event it produces and its calls to other services.
    signing_key_file: Path | None = None
    # Which service's public keys are trusted for the events it produces (shared/signing.py).
    event_trust_file: Path | None = None
    # The MAC keys of this service's audit chain (shared/audit.py), outside the database.
    audit_keys_file: Path | None = None
    # How often the audit chain's head is published for the other services to keep (when it moved).
    audit_anchor_interval_s: float = Field(default=300.0, gt=0)
    # Where the other services answer, to ask them for the anchors of this service's chain they kept:
    # "name=url,name=url". The default is the four services of `make run` on this machine.
    audit_peers: str = ("intake=http://127.0.0.1:8001,verification=http://127.0.0.1:8002,"
                        "clarification=http://127.0.0.1:8003,credit_blacklist=http://127.0.0.1:8004")
    calendar_overrides_file: Path | None = None

    role: Literal["all", "api", "consumer", "relay"] = Field(
        default="all", description="what this process runs: everything, or one part (each scales on its own)")
    run_relay: bool = True
    run_consumer: bool = True
    relay_poll_interval_s: float = Field(default=0.5, gt=0)
    relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    consumer_max_attempts: int = Field(default=5, ge=1, le=100)
    consumer_backoff_s: float = Field(default=0.2, ge=0)
    consumer_backoff_max_s: float = Field(default=5.0, ge=0)
    consumer_session_timeout_ms: int = Field(default=6000, ge=1000)

    log_level: str = "INFO"
    # The language problems are answered in when a request's Accept-Language prefers neither English
    # nor Chinese, or is absent: `en` or `zh-CN` (ZM_DEFAULT_LANGUAGE; `zh` reads as zh-CN).
    default_language: Annotated[Language, BeforeValidator(as_language)] = "en"
    # Addresses of the reverse proxies whose X-Forwarded-For is believed (comma-separated IPs or
    # networks, e.g. "10.0.0.0/8"). Empty (the default): no forwarded header is believed from anyone,
    # and the client is the TCP peer.
    trusted_proxies: str = ""
    # Development and tests only: "now" follows the offset `zhengming clock` writes under the data
    # directory, for every service in step (shared/clock.py). Production refuses to start with it.
    dev_clock: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `ZM_<SERVICE>_X` wins; a plain `ZM_X` (e.g. ZM_DATA_DIR, ZM_KAFKA_BOOTSTRAP) serves all four.
        common = EnvSettingsSource(settings_cls, env_prefix="ZM_")
        return (init_settings, env_settings, common, dotenv_settings, file_secret_settings)

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_unsafe(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"
        if self.environment == "production":
            # Outside development nothing may silently fall back to generated keys or files.
            missing = [
                name
                for name in ("jwt_public_key_file", "field_keys_file", "signing_key_file", "event_trust_file",
                             "audit_keys_file")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"production needs explicit {', '.join(missing)}")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs a PostgreSQL database_url, not SQLite")
            self._refuse_an_unauthenticated_broker()
            if self.dev_clock:
                raise ValueError("production refuses dev_clock: the development clock moves every deadline")
            if any(host in self.audit_peers for host in ("127.0.0.1", "localhost", "::1")):
                raise ValueError("production needs audit_peers naming the other services' API addresses, not "
                                 "this machine's: verify asks them for the anchors of this service's audit chain")
        return self

    def _refuse_an_unauthenticated_broker(self) -> None:
        """In production every broker client proves who it is over TLS: SASL_SSL (SCRAM) or mTLS."""
        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            raise ValueError("production refuses a plaintext broker: set kafka_security_protocol to SASL_SSL "
                             "(SCRAM, with kafka_sasl_username, kafka_sasl_password_file and kafka_ssl_cafile) or "
                             "SSL (mTLS, with kafka_ssl_cafile, kafka_ssl_certfile and kafka_ssl_keyfile)")
        needed = (("kafka_sasl_username", "kafka_sasl_password_file", "kafka_ssl_cafile") if protocol == "SASL_SSL"
                  else ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"))
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"kafka_security_protocol {protocol} needs {', '.join(missing)}")

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def public_key_path(self) -> Path:
        return self.jwt_public_key_file or self.keys_dir / "jwt-public.pem"

    @property
    def private_key_path(self) -> Path:
        return self.jwt_private_key_file or self.keys_dir / "jwt-private.pem"

    @property
    def field_keys_path(self) -> Path:
        return self.field_keys_file or self.keys_dir / "field-keys.json"

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key_file or self.keys_dir / "services" / f"{self.service_name}.pem"

    @property
    def event_trust_path(self) -> Path:
        return self.event_trust_file or self.keys_dir / "event-trust.json"

    @property
    def audit_keys_path(self) -> Path:
        return self.audit_keys_file or self.keys_dir / "audit-keys.json"

    @property
    def audit_peer_urls(self) -> dict[str, str]:
        """The other services' base URLs by name (this service left out)."""
        peers = {}
        for part in self.audit_peers.split(","):
            name, _, url = part.strip().partition("=")
            if name and url and name != self.service_name:
                peers[name.strip()] = url.strip().rstrip("/")
        return peers

    @property
    def development_keys_allowed(self) -> bool:
        return self.environment != "production"
