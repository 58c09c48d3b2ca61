# .ci/deps.sh - the Debian 12 packages each script needs, in one place, and the function that installs them.
# Sourced (bash) by tests/run, bench/run, .ci/run and .ci/aarch64. Defines no shell options.
# shellcheck shell=bash disable=SC2034  # the arrays are used by the scripts that source this file

# Build the library. libcpu-features-dev is the CPU detection on x86-64 (AArch64 reads getauxval).
POSENC_DEPS_BUILD=(build-essential meson ninja-build pkg-config libcpu-features-dev)
# The whole test suite (bash tests/run): cmocka, the Python ctypes client and the pytest suites (Debian's
# python3 with numpy), and the benchmark, which the default build compiles when Google Benchmark is present.
POSENC_DEPS_TESTS=("${POSENC_DEPS_BUILD[@]}" libcmocka-dev libbenchmark-dev python3 python3-numpy python3-pytest)
# The benchmark (bash bench/run); oneDNN is its optional softmax peer (the suite runs without it).
POSENC_DEPS_BENCH=("${POSENC_DEPS_BUILD[@]}" libbenchmark-dev python3)
POSENC_DEPS_BENCH_OPTIONAL=(libdnnl-dev)
# The packaging checks (.ci/packaging): the test suite's packages (the Debian package build runs it), CMake for the
# CMake package and its consumer, and the Debian package tools.
POSENC_DEPS_PACKAGING=("${POSENC_DEPS_TESTS[@]}" cmake debhelper dpkg-dev fakeroot lintian)
# libFuzzer and the clang sanitizers (.ci/run).
POSENC_DEPS_FUZZ=(clang libclang-rt-14-dev)
# The figures of docs/rope-vs-alibi.md (docs/figures/make_figures.py: the library, bench/position_cost, matplotlib).
POSENC_DEPS_FIGURES=("${POSENC_DEPS_BUILD[@]}" libbenchmark-dev python3 python3-numpy python3-matplotlib)
# The AArch64 cross build and its tests under qemu-user (.ci/aarch64). g++ is needed even without the benchmark
# (the project declares C and C++); libc6-dev-arm64-cross is only a Recommends of gcc-aarch64-linux-gnu, so it is
# named; cpu_features is not used on AArch64. Without libbenchmark-dev:arm64 bench/ would not be built, and CI
# wants its smoke run.
POSENC_DEPS_AARCH64=(meson ninja-build pkg-config gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
                     qemu-user libcmocka-dev:arm64 libbenchmark-dev:arm64)

posenc_deps_installed() {   # PACKAGE[:ARCH]
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

posenc_deps_sudo=()
posenc_deps_can_install() {   # sets posenc_deps_sudo; fails when neither root nor sudo is available
    posenc_deps_sudo=()
    [[ $(id -u) -eq 0 ]] && return 0
    command -v sudo >/dev/null || return 1
    posenc_deps_sudo=(sudo)
}

# install_missing PACKAGE...: apt-get install those not installed yet (as root, or through sudo), enabling a
# foreign architecture first when a name carries one (libcmocka-dev:arm64). Does nothing when all are present,
# so a re-run skips apt. Returns non-zero if a package cannot be installed. Not a Debian system: assumes them.
install_missing() {
    if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
        echo "not a Debian system: assuming these are installed (or their equivalents): $*" >&2
        return 0
    fi
    local missing=() package arch
    for package in "$@"; do posenc_deps_installed "$package" || missing+=("$package"); done
    ((${#missing[@]})) || return 0
    if ! posenc_deps_can_install; then
        echo "missing packages: ${missing[*]} -- run as root or install them first" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    for arch in $(printf '%s\n' "${missing[@]}" | sed -n 's/.*:\([a-z0-9]*\)$/\1/p' | sort -u); do
        dpkg --print-foreign-architectures | grep -qx "$arch" ||
            "${posenc_deps_sudo[@]}" dpkg --add-architecture "$arch" || return 1
    done
    "${posenc_deps_sudo[@]}" apt-get update -q || return 1
    DEBIAN_FRONTEND=noninteractive "${posenc_deps_sudo[@]}" apt-get install -y -q "${missing[@]}"
}

# install_optional PACKAGE...: try each missing one once (no apt-get update of its own); never fails.
install_optional() {
    command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || return 0
    local package
    for package in "$@"; do
        posenc_deps_installed "$package" && continue
        if posenc_deps_can_install &&
           DEBIAN_FRONTEND=noninteractive "${posenc_deps_sudo[@]}" apt-get install -y -q "$package" >/dev/null 2>&1
        then
            echo "installed optional $package"
        else
            echo "optional $package not installed"
        fi
    done
    return 0
}
