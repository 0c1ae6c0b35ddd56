#!/usr/bin/env bash
# System packages some features and tests use, from Debian:
#   chromium            the web demo's real-browser test (skipped, with its reason, where absent)
#   fonts-wqy-microhei  a CJK font for the corpus plots and report charts (without one the topic chart
#                       gets English labels and the word cloud is skipped)
#
#   scripts/system-deps.sh                      both (make test)
#   scripts/system-deps.sh fonts-wqy-microhei   the font only (make demo)
#
# Installs what is missing as root (or with passwordless sudo) on a Debian-like system (CI,
# containers); elsewhere it only says what is missing and what that costs. It never fails the make
# target that calls it.
set -u
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(chromium fonts-wqy-microhei)
missing=()
costs=()
for package in "${wanted[@]}"; do
    case "$package" in
        chromium) command -v chromium >/dev/null 2>&1 \
            || { missing+=(chromium); costs+=("the web demo's browser test is skipped"); } ;;
        fonts-wqy-microhei) [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] \
            || { missing+=(fonts-wqy-microhei); costs+=("the topic chart has English labels and no word cloud is drawn"); } ;;
        *) echo "system-deps.sh: unknown package $package (known: chromium fonts-wqy-microhei)" >&2; exit 0 ;;
    esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
as_root=()
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
fi
if { [ "$(id -u)" = 0 ] || [ ${#as_root[@]} -gt 0 ]; } && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (apt-get)" >&2
    "${as_root[@]}" apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null \
        || echo "could not install ${missing[*]}: the features and tests that need them degrade or are skipped" >&2
else
    cost=$(printf '%s; ' "${costs[@]}")
    echo "missing system packages: ${missing[*]} (as root: apt-get install ${missing[*]}); until then ${cost%; }" >&2
fi
exit 0
