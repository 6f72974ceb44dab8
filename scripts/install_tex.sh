#!/usr/bin/env bash
# Installs latexmk and the TeX Live packages the report needs (Debian/Ubuntu), if missing.
set -euo pipefail
if command -v latexmk >/dev/null 2>&1 && kpsewhich booktabs.sty >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra \
  texlive-fonts-recommended poppler-utils >/dev/null
