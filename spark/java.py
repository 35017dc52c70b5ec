"""Is there a Java that PySpark 4 can start? Answered before Spark is touched, in one line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from creativelens.errors import UserError

MINIMUM_JAVA = 17  # PySpark 4.x
FIX = "install it (Debian: apt-get install openjdk-17-jre-headless, as scripts/setup.sh does) or set JAVA_HOME"


def require_java() -> str:
    """The java executable Spark will use (JAVA_HOME's, else PATH's); UserError naming the fix
    when there is none or it is older than Java 17."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if not os.access(java, os.X_OK):
            raise UserError(f"JAVA_HOME={home} holds no bin/java; Spark needs Java {MINIMUM_JAVA}+: {FIX}")
        java = str(java)
    else:
        java = shutil.which("java")
        if java is None:
            raise UserError(f"no Java found (JAVA_HOME unset, no java on PATH); Spark needs Java "
                            f"{MINIMUM_JAVA}+: {FIX}")
    version = java_version(java)
    if version is not None and version < MINIMUM_JAVA:
        raise UserError(f"{java} is Java {version}; Spark 4 needs Java {MINIMUM_JAVA}+: {FIX}")
    return java


def java_version(java: str) -> int | None:
    """The major version `java -version` reports (8 for "1.8.0_x"), None when it says nothing usable."""
    try:
        text = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UserError(f"{java} does not run ({error}); Spark needs Java {MINIMUM_JAVA}+: {FIX}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match[1])
    return int(match[2] or 0) if major == 1 else major
