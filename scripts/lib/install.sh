# Shared install steps for the scripts (sourced, not run). Each function installs
# one thing when it is missing and is a no-op (seconds) when it is there. No
# internet but the package registries is assumed: crates.io, npm, Debian.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/install.sh"

# rustup's installer puts cargo in ~/.cargo/bin, which a non-login shell (CI) may
# not have on PATH.
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) [ -d "$CARGO_BIN" ] && export PATH="$CARGO_BIN:$PATH" ;; esac

say() { printf '==> %s\n' "$*" >&2; }

need_cmd() {
    command -v "$1" >/dev/null || { echo "$1 not found: $2" >&2; exit 1; }
}

ensure_rust_target() {
    need_cmd cargo "install Rust with rustup first"
    if ! rustup target list --installed | grep -qx "$1"; then
        say "install: rustup target $1"
        rustup target add "$1"
    fi
}

# The wasm-bindgen version the crate graph uses (Cargo.lock).
wasm_bindgen_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock 2>/dev/null
}

# wasm-bindgen-cli (and wasm-bindgen-test-runner) at exactly the crate's version.
ensure_wasm_bindgen() {
    local want have=""
    want=$(wasm_bindgen_version)
    if [ -z "$want" ]; then
        cargo generate-lockfile
        want=$(wasm_bindgen_version)
    fi
    have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}') || true
    if [ "$have" != "$want" ] || ! command -v wasm-bindgen-test-runner >/dev/null; then
        say "install: wasm-bindgen-cli $want (have: ${have:-none}; a few minutes)"
        # Not --locked: its lockfile pins a webpki-roots the registry mirror lacks.
        cargo install wasm-bindgen-cli --version "$want" --force
    fi
}

# cargo install NAME VERSION [BIN]: the exact version, --locked first.
ensure_cargo_tool() {
    local name=$1 version=$2 bin=${3:-$1} have=""
    have=$("$bin" --version 2>/dev/null | awk '{print $NF}') || true
    if [ "$have" != "$version" ]; then
        say "install: $name $version (have: ${have:-none}; a few minutes)"
        cargo install "$name" --version "$version" --locked --force ||
            cargo install "$name" --version "$version" --force
    fi
}

# node_modules from package.json/package-lock.json. `npm ci` fails here (the
# lockfile lacks workerd's darwin/windows optional packages, which the registry
# mirror 404s); `npm install` with the lockfile installs the locked versions.
ensure_npm() {
    need_cmd npm "install Node.js (>= 20) first"
    if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/node ] ||
        [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/esbuild ] ||
        [ package.json -nt node_modules/.package-lock.json ] ||
        [ package-lock.json -nt node_modules/.package-lock.json ]; then
        say "install: npm install"
        npm install --no-audit --no-fund
    fi
}

# Debian's Chromium and ChromeDriver (headless browser tests).
ensure_chromium() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        return 0
    fi
    say "install: chromium chromium-driver (Debian)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq chromium chromium-driver </dev/null
}

# The Python openai client in a venv at target/py (the e2e continuation tests parse
# the gateway's streams with it). Pinned, like the npm openai client.
PYTHON_OPENAI_VERSION=3.60.0
ensure_python_openai() {
    local py=target/py/bin/python
    if [ -x "$py" ] && "$py" -c "import openai, sys; sys.exit(openai.__version__ != '$PYTHON_OPENAI_VERSION')" 2>/dev/null; then
        return 0
    fi
    say "install: python openai $PYTHON_OPENAI_VERSION (venv target/py)"
    need_cmd python3 "install python3"
    rm -rf target/py
    python3 -m venv target/py || return 1
    target/py/bin/pip install -q --disable-pip-version-check "openai==$PYTHON_OPENAI_VERSION"
}
