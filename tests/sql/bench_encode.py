"""pyarrow writing the same rows as `aggregator bench-encode` with the same codec and row groups, for
`cargo xtask bench aggregator`. Reads the Rust-written file into memory first (pyarrow's writer takes
a table), then times write_table alone. Prints JSON.

    python tests/sql/bench_encode.py target/bench-aggregator/rust.parquet
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

ROW_GROUP_ROWS = 128 * 1024  # aggregator::sink::ROW_GROUP_ROWS
ZSTD_LEVEL = 1  # the parquet crate's ZstdLevel::default()


def main() -> int:
    source = Path(sys.argv[1])
    table = pq.read_table(source)
    target = source.with_name("pyarrow.parquet")
    started = time.perf_counter()
    pq.write_table(table, target, compression="zstd", compression_level=ZSTD_LEVEL,
                   row_group_size=ROW_GROUP_ROWS, write_statistics=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"rows": table.num_rows, "seconds": seconds, "rows_per_second": table.num_rows / seconds,
                      "peak_rss_bytes": peak, "table_bytes": table.nbytes, "file": str(target),
                      "file_bytes": target.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
