"""Normalizers on the sandbox's contacts: rows/s per normalizer and the whole contacts contract.

Usage: python bench/normalizers.py [--rows 1000000] [--seed 7]

Prints, all from one run on the same generated rows:
- each field's normalizer alone, with and without the distinct-value cache, and the library
  calls it stands for (phonenumbers parse + is_valid_number + format; email_validator) as peers;
- the whole contract (``ContractNormalizer``/``normalize_records``) without the cache (the peer),
  with it in one process, and with it over two processes; seconds, rows/s, ratio to the peer;
- the cache hit rate per field.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from reliable_api.testing.sandbox.data import generate_contacts
from reliable_api.validation.contract import packaged_contract
from reliable_api.validation.normalize import ContractNormalizer, normalize_records
from reliable_api.validation.normalizers import NORMALIZERS
from reliable_api.validation.rejection import is_missing

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def cpu_timed(work: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of this process: on a shared machine, CPU shows the cost, wall the wait."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def phonenumbers_peer(values: Sequence[Any]) -> None:
    import phonenumbers

    for value in values:
        try:
            number = phonenumbers.parse(value, "US")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_validator_peer(values: Sequence[Any]) -> None:
    from email_validator import EmailNotValidError, validate_email

    for value in values:
        try:
            validate_email(value.strip(), check_deliverability=False)
        except EmailNotValidError:
            continue


PEERS = {
    "phone": ("phonenumbers parse+valid+format", phonenumbers_peer),
    "email": ("email_validator", email_validator_peer),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--peer-rows", type=int, default=100_000, help="rows for the slow library peers")
    args = parser.parse_args()

    seconds, records = timed(lambda: list(generate_contacts(args.rows, args.seed, now=NOW)))
    print(f"generated {len(records):,} contacts in {seconds:.1f} s (not counted below)")
    contract = packaged_contract("contacts", check_expectations=False)

    print("\n## each normalizer alone (present, non-missing values of its field)")
    print("| field | normalizer | values | no cache rows/s | cached rows/s | distinct values |")
    print("| --- | --- | --- | --- | --- | --- |")
    for spec in contract.fields:
        values = [
            record[spec.name]
            for record in records
            if spec.name in record and not is_missing(record[spec.name])
        ]
        normalize = NORMALIZERS[spec.normalizer].build(spec.name, spec.options, contract.defaults)
        plain, _ = timed(lambda: [normalize(value) for value in values])  # noqa: B023

        def cached(normalize: Callable[[Any], Any] = normalize, values: list[Any] = values) -> None:
            cache: dict[Any, Any] = {}
            for value in values:
                if value not in cache:
                    cache[value] = normalize(value)

        with_cache, _ = timed(cached)
        distinct = len({str(value) for value in values}) / len(values)
        print(
            f"| {spec.name} | {spec.normalizer} | {len(values):,} | {len(values) / plain:,.0f} "
            f"| {len(values) / with_cache:,.0f} | {distinct:.1%} |"
        )
        if spec.normalizer in PEERS:
            name, peer = PEERS[spec.normalizer]
            sample = values[: args.peer_rows]
            ours, _ = timed(lambda: [normalize(value) for value in sample])  # noqa: B023
            theirs, _ = timed(lambda: peer(sample))  # noqa: B023
            print(
                f"|   peer: {name} | | {len(sample):,} | {len(sample) / theirs:,.0f} "
                f"| ours {len(sample) / ours:,.0f} | ours x{theirs / ours:.1f} |"
            )

    print(f"\n## whole contacts contract, {len(records):,} rows")
    print("| run | wall s | CPU s (this process) | rows/s (wall) | x peer (wall) | good | rejected |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    runs: list[tuple[str, Callable[[], Any]]] = [
        ("no cache, 1 process (peer)", lambda: normalize_records(records, contract, cache_size=0)),
        ("cache, 1 process", lambda: normalize_records(records, contract)),
        ("cache, 2 processes", lambda: normalize_records(records, contract, processes=2)),
    ]
    peer_seconds = 0.0
    for label, run in runs:
        seconds, cpu, batch = cpu_timed(run)
        peer_seconds = peer_seconds or seconds
        assert batch.total == len(records)
        print(
            f"| {label} | {seconds:.1f} | {cpu:.1f} | {len(records) / seconds:,.0f} "
            f"| {peer_seconds / seconds:.2f} | {len(batch.good):,} | {len(batch.rejected):,} |"
        )

    normalizer = ContractNormalizer(contract)
    normalizer.normalize(records)
    print("\n## cache hit rate per field (cache, 1 process)")
    print("| field | text lookups | misses | hit rate |")
    print("| --- | --- | --- | --- |")
    for name, stats in normalizer.stats().items():
        print(f"| {name} | {stats.lookups:,} | {stats.misses:,} | {stats.hit_rate:.1%} |")


if __name__ == "__main__":
    main()
