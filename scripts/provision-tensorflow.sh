#!/usr/bin/env bash
# Provision the native TensorFlow backend of @tensorflow/tfjs-node (run by npm's postinstall,
# idempotent, callable by hand):
#
#   bash scripts/provision-tensorflow.sh [--force]
#
# tfjs-node's own install script downloads libtensorflow 2.9.1 from a host we cannot reach, so
# it is denied (package.json allowScripts) and this script does its job instead:
#   1. fast path: if tfjs-node already loads with the `tensorflow` backend, say so and exit 0
#      (--force skips this check and rebuilds);
#   2. libtensorflow: libtensorflow_cc.so.2 + libtensorflow_framework.so.2 and the C API headers
#      (tensorflow/c/... and the headers they include) are taken from the tensorflow-cpu wheel
#      and cached, stripped, under <cache>/libtensorflow-cpu-<tf version>-linux-x86_64-v1/, so
#      another clone on the same machine reuses them. The wheel comes from `pip download`
#      (PyPI on a normal machine, the local wheel mirror here) and is deleted once extracted;
#   3. node_modules/@tensorflow/tfjs-node/deps/{lib,include} are filled (hard links to the cache
#      when on the same file system, copies otherwise), with the names binding.gyp links against
#      (libtensorflow.so, libtensorflow_framework.so) and the one tfjs-node's installer checks
#      (libtensorflow.so.2.9.1) as symlinks;
#   4. the binding is compiled with `node-pre-gyp install --build-from-source` into
#      node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node (rpath ../../deps/lib);
#   5. a fresh node process loads tfjs-node, checks the backend and runs one op.
#
# Failure policy: a failure is never silent. It prints a banner on stderr (what failed, that the
# model falls back to the slower WASM backend, how to retry) and exits 0 so that the rest of
# `npm ci` stays usable -- unless TILLCAST_REQUIRE_NATIVE_TF=1 (tests, CI), then it exits 1.
#
# Environment:
#   TILLCAST_CACHE_DIR          cache directory                  (default: $HOME/.cache/tillcast)
#   TILLCAST_REQUIRE_NATIVE_TF  1: a failure exits 1             (default: unset)
#   TILLCAST_TF_WHEEL           use this tensorflow-cpu wheel file instead of pip download
#   TILLCAST_TF_KEEP_WHEEL      1: keep the downloaded wheel in <cache>/wheels after extraction
#   TILLCAST_TF_STRIP           0: do not strip symbol tables from the cached libraries (default:
#                               strip when `strip` exists; saves ~200 MB of the ~850 MB)
#   npm_config_nodedir          Node headers for node-gyp; when unset, `npm config get nodedir`,
#                               then the headers installed beside node, then node-gyp's download
#
# Progress (each step with its duration) goes to stderr; the final status line to stdout.
set -uo pipefail

readonly TF_VERSION=2.21.0
readonly TFJS_NODE_EXPECTED=4.22.0
readonly LAYOUT=v1 # bump when the cached layout (which headers, stripping) changes

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
CACHE_DIR=${TILLCAST_CACHE_DIR:-${HOME:-/tmp}/.cache/tillcast}
FORCE=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "provision-tensorflow: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# --- logging, timing, failure ---------------------------------------------------------------
now_us() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then echo "${EPOCHREALTIME/[.,]/}"; else echo $(($(date +%s) * 1000000)); fi
}
secs() { # microseconds -> "12.3s"
  local us=$1
  printf '%d.%ds' $((us / 1000000)) $(((us % 1000000) / 100000))
}
T_START=$(now_us)
readonly T_START
log() { printf '[provision-tensorflow] %s\n' "$*" >&2; }
STEP_NAME=''
STEP_T0=0
step() { # step "what" -- starts a timed step
  STEP_NAME=$1
  STEP_T0=$(now_us)
  log "$STEP_NAME ..."
}
done_step() { # done_step ["detail"]
  log "$STEP_NAME: done in $(secs $(($(now_us) - STEP_T0)))${1:+ ($1)}"
}
LOGFILE=''
fail() { # fail "reason" -- banner on stderr, exit 0 (or 1 when native TF is required)
  local reason=$1 required=0 bar
  [[ ${TILLCAST_REQUIRE_NATIVE_TF:-} == 1 ]] && required=1
  bar=$(printf '#%.0s' {1..96})
  {
    echo
    echo "$bar"
    echo "##"
    echo "##  TILLCAST: NATIVE TENSORFLOW IS NOT AVAILABLE"
    echo "##"
    echo "##  Failed step: ${STEP_NAME:-setup}"
    while IFS= read -r line; do echo "##    $line"; done <<<"$reason"
    if [[ -n $LOGFILE && -s $LOGFILE ]]; then
      if grep -qE '(^|: )(fatal )?error:' "$LOGFILE"; then
        echo "##  First errors in the step's output:"
        grep -m 8 -E '(^|: )(fatal )?error:' "$LOGFILE" | cut -c1-300 | sed 's/^/##    | /'
      fi
      echo "##  Last lines of the step's output (full log: $LOGFILE):"
      tail -n 15 "$LOGFILE" | cut -c1-300 | sed 's/^/##    | /'
    fi
    echo "##"
    echo "##  The forecaster will FALL BACK to the WASM backend (@tensorflow/tfjs-backend-wasm):"
    echo "##  it works, but training and forecasting are much slower."
    echo "##"
    echo "##  Fix the cause above, then retry with:"
    echo "##      bash scripts/provision-tensorflow.sh"
    echo "##  (needs Linux x86_64, python3 with pip, g++ and make; cache: $CACHE_DIR)"
    echo "##"
    if ((required)); then
      echo "##  TILLCAST_REQUIRE_NATIVE_TF=1 is set: this is an ERROR (exit 1)."
    else
      echo "##  Continuing (exit 0); set TILLCAST_REQUIRE_NATIVE_TF=1 to make this an error."
    fi
    echo "##"
    echo "$bar"
    echo
  } >&2
  exit "$required"
}
trap 'fail "interrupted"' INT TERM

# --- what is there ----------------------------------------------------------------------------
# Keep TensorFlow's INFO chatter (CPU features, oneDNN) out of our checks; warnings stay.
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-1}

command -v node >/dev/null || fail "node is not on PATH"
TFJS_DIR=$(cd "$ROOT" && node -p "require('path').dirname(require.resolve('@tensorflow/tfjs-node/package.json'))" 2>/dev/null) ||
  fail "@tensorflow/tfjs-node is not installed under $ROOT/node_modules (run npm ci first)"
readonly TFJS_DIR
TFJS_NODE_VERSION=$(node -p "require('$TFJS_DIR/package.json').version")
readonly TFJS_NODE_VERSION
[[ $TFJS_NODE_VERSION == "$TFJS_NODE_EXPECTED" ]] ||
  log "warning: @tensorflow/tfjs-node is $TFJS_NODE_VERSION, this script was verified with $TFJS_NODE_EXPECTED"

# Loads tfjs-node in a fresh process from the project root; prints "<backend> <TF_Version> <ms>".
load_check() {
  (cd "$ROOT" && node -e '
    const t0 = process.hrtime.bigint();
    const tf = require("@tensorflow/tfjs-node");
    const sum = tf.tensor1d([1, 2, 3]).square().sum().dataSync()[0];
    if (sum !== 14) throw new Error("1^2+2^2+3^2 gave " + sum);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const binding = tf.backend().binding;
    console.log(tf.getBackend(), (binding && binding.TF_Version) || "?", ms.toFixed(0));
  ')
}
ready_line() { # ready_line <TF_Version> <load ms> [note]
  local tfv=$1 ms=$2
  echo "tensorflow native backend ready (tfjs-node $TFJS_NODE_VERSION, libtensorflow from tensorflow-cpu $TF_VERSION)${3:+ $3}: $(secs $(($(now_us) - T_START))) in all, load check $(secs $((ms * 1000)))"
  [[ $tfv == "$TF_VERSION" ]] || log "warning: the loaded libtensorflow reports version $tfv, expected $TF_VERSION"
}

# Exits 0 with one line when tfjs-node already loads with the tensorflow backend.
fast_path() {
  local out backend tfv ms
  if out=$(load_check 2>&1); then
    read -r backend tfv ms <<<"$(tail -n 1 <<<"$out")"
    if [[ $backend == tensorflow ]]; then
      ready_line "$tfv" "$ms" "already provisioned, nothing to do (--force rebuilds)"
      exit 0
    fi
    log "tfjs-node loads with backend '$backend', not 'tensorflow': provisioning"
  else
    log "tfjs-node does not load yet: $(grep -m 1 -E '^[A-Za-z]*Error' <<<"$out" | cut -c1-200)"
    log "provisioning the native binding"
  fi
}

((FORCE)) || fast_path

# --- prerequisites ----------------------------------------------------------------------------
step "checking prerequisites"
[[ $(uname -s) == Linux && $(uname -m) == x86_64 ]] ||
  fail "unsupported platform $(uname -s)/$(uname -m): the libraries come from the Linux x86_64 tensorflow-cpu wheel"
command -v python3 >/dev/null || fail "python3 is not on PATH (needed to fetch and unpack the tensorflow-cpu wheel)"
CXX_BIN=${CXX:-}
[[ -n $CXX_BIN ]] || CXX_BIN=$(command -v g++ || command -v c++ || command -v clang++ || true)
[[ -n $CXX_BIN ]] || fail "no C++ compiler (g++) on PATH: install build-essential (Debian/Ubuntu: apt-get install g++ make)"
command -v make >/dev/null || fail "make is not on PATH: install build-essential (Debian/Ubuntu: apt-get install g++ make)"
mkdir -p "$CACHE_DIR" || fail "cannot create the cache directory $CACHE_DIR (set TILLCAST_CACHE_DIR)"
done_step "python3, $(basename "$CXX_BIN"), make; cache $CACHE_DIR"

# One provisioning at a time per cache (parallel clones share the extracted libraries).
if command -v flock >/dev/null; then
  exec 9>"$CACHE_DIR/provision.lock"
  if ! flock -n 9; then
    step "waiting for another provisioning (lock $CACHE_DIR/provision.lock)"
    flock 9
    done_step
    ((FORCE)) || fast_path
  fi
fi

# --- 1. libtensorflow in the cache ------------------------------------------------------------
LIBCACHE=$CACHE_DIR/libtensorflow-cpu-$TF_VERSION-linux-x86_64-$LAYOUT
readonly LIBCACHE
cache_ok() {
  [[ -f $LIBCACHE/complete && -s $LIBCACHE/lib/libtensorflow_cc.so.2 && -s $LIBCACHE/lib/libtensorflow_framework.so.2 &&
    -f $LIBCACHE/include/tensorflow/c/c_api.h && -f $LIBCACHE/include/tensorflow/c/eager/c_api.h ]]
}

if cache_ok; then
  log "libtensorflow $TF_VERSION: cached in $LIBCACHE"
else
  [[ -e $LIBCACHE ]] && { log "discarding an incomplete cache entry $LIBCACHE"; rm -rf "$LIBCACHE"; }
  WHEEL=${TILLCAST_TF_WHEEL:-}
  DOWNLOADED=0
  if [[ -n $WHEEL ]]; then
    [[ -f $WHEEL ]] || fail "TILLCAST_TF_WHEEL=$WHEEL does not exist"
    log "using the wheel from TILLCAST_TF_WHEEL: $WHEEL"
  else
    WHEEL_DIR=$CACHE_DIR/wheels
    WHEEL=$(compgen -G "$WHEEL_DIR/tensorflow_cpu-$TF_VERSION-*.whl" | head -n 1)
    if [[ -n $WHEEL ]]; then
      log "using the cached wheel $WHEEL"
    else
      step "downloading tensorflow-cpu==$TF_VERSION (pip, ~270 MB)"
      mkdir -p "$WHEEL_DIR"
      LOGFILE=$CACHE_DIR/pip-download.log
      pip_download() {
        python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
          -d "$WHEEL_DIR" "$@" "tensorflow-cpu==$TF_VERSION" 2>&1 | tee "$LOGFILE" >&2
      }
      # The libraries do not depend on Python's version: when pip finds no wheel for this
      # interpreter (a Python TensorFlow does not support yet), take the CPython 3.11 one.
      pip_download ||
        { log "retrying with the CPython 3.11 wheel"; pip_download --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_27_x86_64; } ||
        fail "python3 -m pip download tensorflow-cpu==$TF_VERSION failed (is pip installed? is PyPI reachable?)"
      WHEEL=$(compgen -G "$WHEEL_DIR/tensorflow_cpu-$TF_VERSION-*.whl" | head -n 1)
      [[ -n $WHEEL ]] || fail "pip reported success but no tensorflow_cpu-$TF_VERSION-*.whl is in $WHEEL_DIR"
      DOWNLOADED=1
      LOGFILE=''
      done_step "$(basename "$WHEEL"), $(($(stat -c %s "$WHEEL") / 1048576)) MB"
    fi
  fi

  step "extracting libtensorflow and the C API headers from the wheel"
  TMP_CACHE=$LIBCACHE.tmp.$$
  rm -rf "$TMP_CACHE"
  LOGFILE=$CACHE_DIR/extract.log
  python3 - "$WHEEL" "$TMP_CACHE" "$TFJS_DIR/binding" >"$LOGFILE" 2>&1 <<'PY' || { rm -rf "$TMP_CACHE"; fail "could not extract from $WHEEL (a corrupt download? delete it and retry)"; }
import os, re, shutil, sys, zipfile

wheel, out, binding_dir = sys.argv[1:4]
LIBS = ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"]
INC = "tensorflow/include/"
os.makedirs(os.path.join(out, "lib"))
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for lib in LIBS:
        with z.open("tensorflow/" + lib) as src, open(os.path.join(out, "lib", lib), "wb") as dst:
            shutil.copyfileobj(src, dst, 16 << 20)
    headers = {n[len(INC):] for n in names if n.startswith(INC) and not n.endswith("/")}
    # Seeds: the whole C API (tensorflow/c/...) and whatever the binding includes; then every
    # header they include that the wheel ships (e.g. tsl/platform/ctstring.h).
    seeds = [h for h in headers if h.startswith("tensorflow/c/")]
    include_re = re.compile(rb'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)
    for f in os.listdir(binding_dir):
        with open(os.path.join(binding_dir, f), "rb") as fh:
            seeds += [m.decode() for m in include_re.findall(fh.read())]
    todo, wanted = list(seeds), set()
    while todo:
        h = todo.pop()
        if h in wanted or h not in headers:
            continue
        wanted.add(h)
        todo += [m.decode() for m in include_re.findall(z.read(INC + h))]
    for h in sorted(wanted):
        dst = os.path.join(out, "include", h)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(INC + h) as src, open(dst, "wb") as fh:
            shutil.copyfileobj(src, fh)
    print(f"{len(wanted)} headers")
PY
  LOGFILE=''
  done_step "$(tail -n 1 "$CACHE_DIR/extract.log")"

  if [[ ${TILLCAST_TF_STRIP:-1} != 0 ]] && command -v strip >/dev/null; then
    step "stripping symbol tables (strip --strip-unneeded)"
    for lib in "$TMP_CACHE"/lib/*.so.2; do
      strip --strip-unneeded "$lib" || { log "warning: strip failed on $lib, keeping it unstripped"; }
    done
    done_step "$(du -sm "$TMP_CACHE/lib" | cut -f1) MB"
  fi
  chmod 0444 "$TMP_CACHE"/lib/*.so.2 # hard links in node_modules share these inodes: keep them read-only
  { echo "tensorflow-cpu $TF_VERSION from $(basename "$WHEEL")"; date -u +%FT%TZ; } >"$TMP_CACHE/complete"
  if [[ -e $LIBCACHE ]]; then rm -rf "$TMP_CACHE"; else mv "$TMP_CACHE" "$LIBCACHE" || fail "cannot move $TMP_CACHE to $LIBCACHE"; fi
  cache_ok || fail "the cache entry $LIBCACHE is incomplete after extraction"
  if ((DOWNLOADED)) && [[ ${TILLCAST_TF_KEEP_WHEEL:-0} != 1 ]]; then
    rm -f "$WHEEL" && log "deleted the wheel (the extracted libraries are cached; TILLCAST_TF_KEEP_WHEEL=1 keeps it)"
  fi
fi

# --- 2. deps/lib and deps/include of tfjs-node ------------------------------------------------
step "populating $TFJS_DIR/deps"
DEPS=$TFJS_DIR/deps
TMP_DEPS=$TFJS_DIR/deps.tmp.$$
rm -rf "$TMP_DEPS"
mkdir -p "$TMP_DEPS/lib" || fail "cannot write into $TFJS_DIR"
LINKED=hard-linked
for lib in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
  ln "$LIBCACHE/lib/$lib" "$TMP_DEPS/lib/$lib" 2>/dev/null || {
    LINKED=copied
    cp "$LIBCACHE/lib/$lib" "$TMP_DEPS/lib/$lib" || { rm -rf "$TMP_DEPS"; fail "cannot copy $lib into $TMP_DEPS/lib"; }
  }
done
# binding.gyp links -ltensorflow -ltensorflow_framework; tfjs-node's installer looks for
# libtensorflow.so.2.9.1 and downloads when it is missing.
ln -s libtensorflow_cc.so.2 "$TMP_DEPS/lib/libtensorflow.so"
ln -s libtensorflow_framework.so.2 "$TMP_DEPS/lib/libtensorflow_framework.so"
ln -s libtensorflow_cc.so.2 "$TMP_DEPS/lib/$(cd "$TFJS_DIR" && node -p "require('./scripts/deps-constants.js').depsLibTensorFlowName")" ||
  { rm -rf "$TMP_DEPS"; fail "cannot create the libtensorflow symlinks"; }
cp -R "$LIBCACHE/include" "$TMP_DEPS/include" || { rm -rf "$TMP_DEPS"; fail "cannot copy the headers into $TMP_DEPS"; }
{ rm -rf "$DEPS" && mv "$TMP_DEPS" "$DEPS"; } || fail "cannot move $TMP_DEPS to $DEPS"
done_step "$LINKED"

# --- 3. build the binding ---------------------------------------------------------------------
# node-gyp needs Node's headers. `npm ci` passes npm's config as npm_config_* (nodedir
# included when set in .npmrc); run by hand, ask npm, then look beside node; node-gyp
# downloads the headers only when none of these exists.
if [[ -z ${npm_config_nodedir:-} ]]; then
  nd=$(npm config get nodedir 2>/dev/null || true)
  if [[ -n $nd && $nd != undefined && $nd != null ]]; then
    export npm_config_nodedir=$nd
  else
    prefix=$(dirname "$(dirname "$(node -p process.execPath)")")
    if [[ -f $prefix/include/node/node_api.h && -f $prefix/include/node/common.gypi ]] &&
      [[ $(node -p 'process.versions.node.split(".")[0]') == $(sed -n 's/^#define NODE_MAJOR_VERSION \([0-9]*\).*/\1/p' "$prefix/include/node/node_version.h") ]]; then
      export npm_config_nodedir=$prefix
    fi
  fi
fi
NPG=$(cd "$TFJS_DIR" && node -p "require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp')" 2>/dev/null) ||
  fail "@mapbox/node-pre-gyp (a dependency of tfjs-node) is not installed"
step "compiling the tfjs-node binding (node-pre-gyp --build-from-source${npm_config_nodedir:+, nodedir $npm_config_nodedir})"
LOGFILE=$CACHE_DIR/build-tfjs-node.log
(
  cd "$TFJS_DIR" && rm -rf build lib &&
    JOBS=${JOBS:-max} node "$NPG" install --build-from-source
) >"$LOGFILE" 2>&1 || fail "node-pre-gyp install --build-from-source failed in $TFJS_DIR"
BINDING=$(cd "$TFJS_DIR" && node -p "require('@mapbox/node-pre-gyp').find(require('path').resolve('package.json'))" 2>/dev/null)
[[ -n $BINDING && -f $BINDING ]] || fail "the build finished but no binding is at ${BINDING:-the path node-pre-gyp expects}"
LOGFILE=''
done_step "${BINDING#"$ROOT"/}"

# --- 4. verify in a fresh process -------------------------------------------------------------
step "verifying: loading tfjs-node in a fresh node process"
LOGFILE=$CACHE_DIR/verify.log
load_check >"$LOGFILE" 2>&1 || fail "tfjs-node does not load although the binding was built"
read -r backend tfv ms <<<"$(tail -n 1 "$LOGFILE")"
[[ $backend == tensorflow ]] || fail "tfjs-node loaded, but its backend is '$backend', not 'tensorflow'"
LOGFILE=''
done_step "backend $backend, libtensorflow $tfv"
ready_line "$tfv" "$ms"
