"""cfn-lint over every synthesized template (nested stage assemblies included): no error."""

from __future__ import annotations

import subprocess
import sys

from conftest import templates


def test_every_template_passes_cfn_lint(cdk_out):
    files = templates(cdk_out)
    names = {f.name for f in files}
    assert any(n.startswith("OrgRule-") for n in names) and "Reporting.template.json" in names, names
    assert any(f.parent.name.startswith("assembly-Member") for f in files), "the member template (StackSet body)"
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
         "--non-zero-exit-code", "error", "--", *map(str, files)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
