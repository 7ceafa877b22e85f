"""The one place that talks to llvmlite: initialisation, optimisation, code generation, loading.

Everything here follows facts measured with llvmlite 0.50 (LLVM 22) on x86-64 Linux, each
checked by running it:
- ``initialize_native_target`` and ``initialize_native_asmprinter`` (``llvm.initialize()``
  raises); a first MCJIT engine is created at start-up, which makes the process's own symbols
  (libm) resolvable, so a missing symbol can be detected before any code runs.
- A fresh target machine, pipeline tuning options, pass builder and module pass manager per
  module: reusing a pass manager aborts the process, reusing a target machine across engines
  segfaults. IR is verified before it is optimised (the wheels have LLVM assertions on).
- A compile frees what it allocates in LLVM: the module lives in an LLVM context of its own,
  disposed after code generation, and the module pass manager is freed by hand (in llvmlite
  0.50 its ``close()`` frees nothing). About 1.5 KiB per compile stays allocated: the
  instrumentation callbacks llvmlite gives each pass builder and never frees.
- Optimisation at O2 with loop vectorisation; SLP vectorisation only where the caller asks (it
  multiplies compile time by 1.7-4.6x on straight-line code for no runtime gain, but vectorises
  the short fully unrolled rows of loop kernels: see ``codegen.slp_vectorization``).
- Code goes through one path whether fresh, cached or unpickled: ``emit_object`` -> bytes ->
  ``add_object_file`` into an engine that :class:`LoadedCode` keeps alive for as long as any
  function pointer into it exists (a freed engine under live code crashes the process).
- IR text may hold several modules (``emit.MODULE_SEPARATOR`` between them: the large
  straight-line parts of a big graph, split by ``graphc.jit.codegen``); the first is parsed,
  optimised and compiled by the calling thread while each other one is parsed, verified and
  compiled in a thread of its own (:class:`_SeparateModules`), and their objects travel as one
  bundle (:func:`_bundle`). llvmlite serialises every call with one global lock (two threads
  calling it compile no faster than one), so those threads call llvmlite's C functions directly
  while the calling thread holds that lock: no other llvmlite user runs meanwhile, and LLVM
  parses and generates code for modules in separate contexts with separate target machines
  concurrently (as its parallel LTO back ends do). Where llvmlite's internals differ, the
  modules are compiled in turn.
- Code is compiled for a *target*: this CPU (``"host"``, the default) or a portable one
  (``"generic"``, the x86-64 micro-architecture levels ``"x86-64-v2"``...). A target is a plain
  dict (:func:`resolve_target`) that travels with the object code (cache entries, pickles), and
  :func:`unsupported` says why this machine cannot run code built for it (another CPU family or
  operating system, or CPU features it lacks), so a loader recompiles instead of crashing on an
  illegal instruction.
- Objects for C programs (:func:`compile_for_export`) are position independent, in the small
  code model, and export only the entry points asked for: every other function is made internal
  before optimisation, so the optimizer deletes graphc's Python entry points.

MCJIT is slated for deprecation upstream; only this module would change to move to ORC/LLJIT.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import os
import re
import struct
import threading
import time

import llvmlite
import llvmlite.binding as llvm
from llvmlite.binding import ffi

from graphc.jit.emit import MODULE_SEPARATOR, UNOPTIMIZED

_lock = threading.RLock()
_state: dict[str, object] = {}

# A math intrinsic in optimised IR, vector forms included (`@llvm.exp.v4f64(`): the libm
# function it may become after code generation, which must then resolve in the process.
_INTRINSIC_CALL = re.compile(r"@llvm\.([a-z0-9]+)\.(?:v\d+)?(f64|f32)\(")


def initialize() -> None:
    with _lock:
        if "anchor" in _state:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        features = llvm.get_host_cpu_features().flatten()
        _state["host_target"] = {
            "name": "host",
            "triple": llvm.get_process_triple(),
            "cpu": llvm.get_host_cpu_name(),
            "features": features,
            "requires": sorted(f[1:] for f in features.split(",") if f.startswith("+")),
        }
        # The first engine loads the process's symbols (LoadLibraryPermanently(nullptr)).
        anchor = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine(0))
        _state["anchor"] = anchor


def _target_machine(opt: int, target: dict | None = None, *, jit: bool = True):
    """A new target machine (one per engine or compile: they must never be shared). JIT code
    uses MCJIT's settings; objects for C programs (``jit=False``) are position independent in
    the small code model, so they link into PIE executables and shared libraries."""
    chosen: dict = target or _state["host_target"]  # type: ignore[assignment]
    machine = llvm.Target.from_triple(chosen["triple"])
    return machine.create_target_machine(
        cpu=chosen["cpu"],
        features=chosen["features"],
        opt=opt,
        reloc="default" if jit else "pic",
        codemodel="jitdefault" if jit else "default",
        jit=jit,
    )


# The x86-64 micro-architecture levels (the psABI's x86-64-v2/v3/v4, as GCC, Clang and LLVM
# name them) and the CPU features each guarantees, in LLVM's feature names. Code built for a
# level runs on every CPU with these features; "generic" means the baseline level.
X86_64_LEVELS: dict[str, tuple[str, ...]] = {
    "x86-64": ("64bit", "cmov", "cx8", "fxsr", "mmx", "sse", "sse2"),
}
X86_64_LEVELS["x86-64-v2"] = X86_64_LEVELS["x86-64"] + (
    "cx16", "popcnt", "sahf", "sse3", "sse4.1", "sse4.2", "ssse3"
)  # fmt: skip
X86_64_LEVELS["x86-64-v3"] = X86_64_LEVELS["x86-64-v2"] + (
    "avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave"
)  # fmt: skip
X86_64_LEVELS["x86-64-v4"] = X86_64_LEVELS["x86-64-v3"] + (
    "avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl"
)  # fmt: skip


def cpu_choices() -> tuple[str, ...]:
    """The names ``compile(cpu=...)`` and ``export(cpu=...)`` accept on this machine."""
    initialize()
    if _arch(llvm.get_process_triple()) == "x86_64":
        return ("host", "generic", *X86_64_LEVELS)
    return ("host", "generic")


def host_target() -> dict:
    """This machine's CPU with every feature it has."""
    initialize()
    return dict(_state["host_target"])  # type: ignore[call-overload]


def resolve_target(cpu: str, caller: str = "compile") -> dict:
    """The target named ``cpu``: ``"host"``, ``"generic"`` or an x86-64 level (see
    :func:`cpu_choices`). A plain dict: ``name``, ``triple``, ``cpu`` and ``features`` (what LLVM
    is told), ``requires`` (the CPU features code built for it may use)."""
    choices = cpu_choices()
    if not isinstance(cpu, str) or cpu not in choices:
        raise ValueError(
            f"{caller}: cpu must be one of {', '.join(map(repr, choices))} (this machine's CPU, "
            f"a portable baseline, or an x86-64 micro-architecture level), got {cpu!r}"
        )
    if cpu == "host":
        return host_target()
    triple = llvm.get_process_triple()
    if _arch(triple) != "x86_64":
        return {"name": cpu, "triple": triple, "cpu": "generic", "features": "", "requires": []}
    level = "x86-64" if cpu == "generic" else cpu
    return {
        "name": cpu,
        "triple": triple,
        "cpu": level,
        "features": "",
        "requires": sorted(X86_64_LEVELS[level]),
    }


def _arch(triple: str) -> str:
    return triple.split("-")[0]


def _system(triple: str) -> str:
    parts = triple.split("-")
    return parts[2] if len(parts) > 2 else ""


def unsupported(target: dict) -> str | None:
    """Why this machine cannot run code built for ``target``, or None if it can."""
    here = host_target()
    if (_arch(target["triple"]), _system(target["triple"])) != (
        _arch(here["triple"]),
        _system(here["triple"]),
    ):
        return f"it was compiled for {target['triple']}, this machine is {here['triple']}"
    missing = sorted(set(target["requires"]) - set(here["requires"]))
    if missing:
        return (
            f"it was compiled for CPU {target['cpu']!r}, whose features {', '.join(missing)} "
            f"this CPU ({here['cpu']}) lacks"
        )
    return None


def target_description(target: dict) -> str:
    """What compiled code depends on besides the graph and the options: part of cache keys."""
    initialize()
    return "|".join(
        [
            target["triple"],
            target["cpu"],
            target["features"],
            llvmlite.__version__,
            ".".join(map(str, llvm.llvm_version_info)),
        ]
    )


def vector_math_available() -> bool:
    """True where glibc's libmvec AVX2 functions can be used (Linux x86-64 with AVX2)."""
    initialize()
    with _lock:
        if "vector_math" not in _state:
            _state["vector_math"] = _enable_vector_math()
    return bool(_state["vector_math"])


def _enable_vector_math() -> bool:
    import ctypes
    import ctypes.util

    if not llvm.get_host_cpu_features().flatten().count("+avx2"):
        return False
    try:
        llvm.load_library_permanently(ctypes.util.find_library("mvec") or "libmvec.so.1")
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    except (OSError, RuntimeError):
        return False
    _state["libm"] = libm
    return True


def _bind_vector_math_twins(symbols: set[str]) -> None:
    """Bind each ``gc_vm_<f>`` that code calls to libm's ``f`` (see ``emit.VECTOR_PREFIX``): the
    scalar twin of a libmvec function, called in a loop's remainder and outside loops."""
    import ctypes

    from graphc.jit.emit import VECTOR_PREFIX

    libm = _state["libm"]
    for symbol in symbols:
        if symbol.startswith(VECTOR_PREFIX) and llvm.address_of_symbol(symbol) is None:
            name = symbol[len(VECTOR_PREFIX) :]
            address = ctypes.cast(getattr(libm, name), ctypes.c_void_p).value
            llvm.add_symbol(symbol, address)


@functools.cache
def host_description() -> str:
    """What code compiled for this CPU depends on besides the graph: part of cache keys."""
    return target_description(host_target())


def compile_to_object(
    ir_text: str,
    opt_level: int = 2,
    target: dict | None = None,
    codegen_level: int | None = None,
    slp: bool = False,
) -> tuple[bytes, str, dict[str, float]]:
    """Parse, verify, optimise and compile IR text for ``target`` (None: this CPU); returns
    (object code, optimised IR, timings). ``opt_level`` is the IR optimizer's (0: none),
    ``codegen_level`` the code generator's (None: ``opt_level``); ``slp``: whether the IR
    optimizer vectorises straight-line code (``codegen.slp_vectorization``)."""
    levels = (opt_level, opt_level if codegen_level is None else codegen_level)
    return _compile(ir_text, levels, target, jit=True, exported=None, slp=slp)


def compile_for_export(
    ir_text: str, opt_level: int, target: dict, exported: set[str], slp: bool = False
) -> tuple[bytes, str, dict[str, float]]:
    """An object file for C programs: only the functions in ``exported`` stay global (the others
    become internal, and the optimizer deletes those no exported function calls)."""
    if opt_level < 1 or MODULE_SEPARATOR in ir_text:
        raise ValueError("internal error: export needs the optimizer and one module")
    levels = (opt_level, opt_level)
    return _compile(ir_text, levels, target, jit=False, exported=exported, slp=slp)


def _compile(
    ir_text: str,
    levels: tuple[int, int],
    target: dict | None,
    jit: bool,
    exported: set[str] | None,
    slp: bool,
) -> tuple[bytes, str, dict[str, float]]:
    initialize()
    timings: dict[str, float] = {}
    opt_level, codegen_level = levels
    with _lock, contextlib.ExitStack() as scope:
        machine = _target_machine(codegen_level, target, jit=jit)
        triple = (target or host_target())["triple"]
        layout = str(machine.target_data)
        header = f'target datalayout = "{layout}"\ntarget triple = "{triple}"\n\n'
        texts = [header + text for text in ir_text.split(MODULE_SEPARATOR)]
        # The other modules hold straight-line parts only, nothing for the IR optimizer: they
        # are parsed and compiled meanwhile (their time is in "codegen").
        machines = [_target_machine(codegen_level, target, jit=jit) for _ in texts[1:]]
        with _SeparateModules(texts[1:], machines, scope) as separate:
            start = time.perf_counter()
            module = _parse_in_own_context(texts[0], scope)
            module.verify()
            if exported is not None:
                _internalize(module, exported)
            timings["llvm_parse"] = time.perf_counter() - start

            start = time.perf_counter()
            if opt_level > 0:
                _optimize(module, _target_machine(opt_level, target, jit=jit), opt_level, slp)
            if opt_level > 0 and UNOPTIMIZED in texts[0]:
                # Functions left out of the IR optimizer are compiled like the others: drop the
                # mark, and generate code from the text (llvmlite cannot remove an attribute).
                texts[0] = _drop_unoptimized_mark(str(module))
                module = _parse_in_own_context(texts[0], scope)
            elif opt_level > 0 or exported is not None:
                texts[0] = str(module)  # else nothing changed it (printing it takes time)
            timings["llvm_optimize"] = time.perf_counter() - start

            start = time.perf_counter()
            code = machine.emit_object(module)
        timings["codegen"] = time.perf_counter() - start
    return _bundle([code, *separate.codes]), MODULE_SEPARATOR.join(texts), timings


class _SeparateModules:
    """Context manager: IR texts of whole modules, each parsed into an LLVM context of its own,
    verified and compiled to object code (``codes``, once the block is left) while the block
    runs, one thread each (see the module docstring); in turn on leaving it where llvmlite's
    internals differ. ``scope`` frees the contexts and modules."""

    _functions = ("LLVMPY_ParseAssembly", "LLVMPY_VerifyModule", "LLVMPY_TargetMachineEmitToMemory")

    def __init__(self, texts: list[str], machines: list, scope: contextlib.ExitStack):
        self.texts = [ctypes.c_char_p(text.encode()) for text in texts]
        self.machines, self.scope, self.contexts = machines, scope, []
        for _ in texts:
            self.contexts.append(llvm.create_context())
            scope.callback(self.contexts[-1].close)
        # Messages of parse, verify, code generation: made and freed here, never in a thread
        # (freeing one takes llvmlite's lock).
        self.errors = [[ffi.OutputString() for _ in range(3)] for _ in texts]
        # Per module: its LLVM module, whether it failed verification, its object code buffer.
        self.results: list[list] = [[None, True, None] for _ in texts]
        self.codes: list[bytes] = []
        raw = [_unwrapped(name) for name in self._functions]
        usable = all(raw) and hasattr(ffi.lib, "_lock")
        self.threads = (
            [threading.Thread(target=self._run, args=(k, raw)) for k in range(len(texts))]
            if usable
            else []
        )

    def __enter__(self) -> _SeparateModules:
        if self.threads:
            ffi.lib._lock.__enter__()  # no other llvmlite user until the threads are joined
            for thread in self.threads:
                thread.start()
        return self

    def _run(self, k: int, functions: list) -> None:
        parse, verify, emit = functions  # in a thread: llvmlite's C functions, no wrapper
        result, (parse_error, verify_error, emit_error) = self.results[k], self.errors[k]
        result[0] = parse(self.contexts[k], self.texts[k], parse_error)
        result[1] = bool(result[0]) and bool(verify(result[0], verify_error))
        if result[0] and not result[1]:
            result[2] = emit(self.machines[k], result[0], 1, emit_error)

    def __exit__(self, kind, *rest) -> None:
        if self.threads:
            try:
                _join_deferring_interrupts(self.threads)  # modules must outlive their threads
            finally:
                ffi.lib._lock.__exit__(None, None, None)
        elif kind is None:
            wrapped = [getattr(ffi.lib, name) for name in self._functions]
            for k in range(len(self.texts)):
                self._run(k, wrapped)
        try:
            for k, (module, _, buffer) in enumerate(self.results):
                if module:  # freed before its context (the scope's callbacks run in reverse)
                    self.scope.callback(llvm.ModuleRef(module, self.contexts[k]).close)
                if buffer:
                    start = ffi.lib.LLVMPY_GetBufferStart(buffer)
                    self.codes.append(ctypes.string_at(start, ffi.lib.LLVMPY_GetBufferSize(buffer)))
                    ffi.lib.LLVMPY_DisposeMemoryBuffer(buffer)
            for (module, invalid, buffer), (parse, verify, emit) in zip(self.results, self.errors):
                if kind is None and not buffer:
                    raise RuntimeError(
                        f"LLVM IR parsing error\n{parse}"
                        if not module
                        else str(verify)
                        if invalid
                        else f"LLVM code generation failed: {emit}"
                    )
        finally:
            for message in itertools.chain(*self.errors):
                message.close()


def _unwrapped(name: str):
    """llvmlite's C function ``name`` without its lock-taking wrapper, or None."""
    return getattr(getattr(ffi.lib, name, None), "_cfn", None)


def _join_deferring_interrupts(threads: list[threading.Thread]) -> None:
    """Wait for every thread, even through Ctrl-C (re-raised once all are done)."""
    interrupted = None
    for thread in threads:
        while thread.is_alive():
            try:
                thread.join()
            except KeyboardInterrupt as stop:
                interrupted = stop
    if interrupted is not None:
        raise interrupted


# Several objects travel as one bundle: this magic, their count and sizes (little-endian 64-bit
# integers), then the objects. A single object is itself (an ELF file starts with b"\x7fELF").
_BUNDLE = b"GCBUNDLE"


def _bundle(codes: list[bytes]) -> bytes:
    if len(codes) == 1:
        return codes[0]
    sizes = struct.pack(f"<{len(codes) + 1}Q", len(codes), *map(len, codes))
    return _BUNDLE + sizes + b"".join(codes)


def _unbundle(code: bytes) -> list[bytes]:
    if not code.startswith(_BUNDLE):
        return [code]
    (count,) = struct.unpack_from("<Q", code, len(_BUNDLE))
    sizes = struct.unpack_from(f"<{count}Q", code, len(_BUNDLE) + 8)
    ends = list(itertools.accumulate(sizes, initial=len(_BUNDLE) + 8 * (count + 1)))
    return [code[start:end] for start, end in zip(ends, ends[1:])]


def codegen_threads() -> int:
    """How many threads code generation may use: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ``optnone`` (emit.UNOPTIMIZED) keeps a function out of LLVM's IR optimizer; to LLVM it also
# means O0 code generation (FastISel, no machine-level optimisation), so it is removed from the
# optimised IR before code generation.
_ATTRIBUTE_GROUP = re.compile(
    r"^((?:attributes #\d+ = \{|; Function Attrs:)[^\n]*?) optnone\b", re.MULTILINE
)


def _drop_unoptimized_mark(ir_text: str) -> str:
    """``ir_text`` (as LLVM prints a module: function attributes in ``attributes #k`` groups,
    repeated in a comment above each function) without the ``optnone`` attribute."""
    return _ATTRIBUTE_GROUP.sub(r"\1", ir_text)


def _internalize(module, exported: set[str]) -> None:
    """Give every defined function and global outside ``exported`` internal linkage."""
    found = set()
    for value in [*module.functions, *module.global_variables]:
        if value.is_declaration or value.name.startswith("llvm."):
            continue
        if value.name in exported:
            found.add(value.name)
        else:
            value.linkage = "internal"
    if found != exported:
        raise RuntimeError(f"internal error: no definition of {sorted(exported - found)}")


def _parse_in_own_context(ir_text: str, scope: contextlib.ExitStack):
    """Parse ``ir_text`` into a new LLVM context; ``scope`` frees the module, then the context.

    Types, constants and metadata are uniqued in a context and live as long as it does: in
    llvmlite's global context every compile of a distinct graph kept about 20 KiB for good.
    """
    context = llvm.create_context()
    scope.callback(context.close)
    module = llvm.parse_assembly(ir_text, context=context)
    scope.callback(module.close)  # runs first: a module must not outlive its context
    return module


def _optimize(module, machine, opt_level: int, slp: bool = False) -> None:
    """Run LLVM's default O``opt_level`` pipeline on ``module`` and free the pass objects.

    Tuning options, pass builder and pass manager are made afresh for every module. A reused
    pass manager aborts. A reused pass builder would save the ~1.5 KiB each one leaks, but it
    keeps every run's instrumentation callbacks (registered by an object local to llvmlite's
    run function, so they point into a finished call): runs were 1.8x slower after 1,200.
    """
    options = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    options.loop_vectorization = True
    options.slp_vectorization = slp
    builder = llvm.create_pass_builder(machine, options)
    try:
        manager = builder.getModulePassManager()
        try:
            manager.run(module, builder)
        finally:
            _free_pass_manager(manager)
    finally:
        builder.close()
        options.close()


def _free_pass_manager(manager) -> None:
    """Free a module pass manager, which ``close()`` does not do in llvmlite 0.50.

    ``ModulePassManager(ffi.ObjectRef, NewPassManager)`` finds ``ObjectRef``'s empty
    ``_dispose`` before ``NewPassManager``'s, so ``close()`` only forgets the pointer and the
    whole pipeline leaks: about 30 KiB as built, 150 KiB once run on a small graph. Where that
    is fixed (``_dispose`` is no longer the empty one), ``close()`` is the right call.
    """
    if type(manager)._dispose is not ffi.ObjectRef._dispose:
        manager.close()
        return
    ffi.lib.LLVMPY_DisposeNewModulePassManger(manager)  # sic: llvmlite's spelling
    manager.detach()  # so that neither close() nor __del__ touches the freed pointer


def assembly(optimized_ir: str, opt_level: int = 2, target: dict | None = None) -> str:
    """Assembly text for already optimised IR (for ``CompiledFunction.asm``)."""
    initialize()
    with _lock:
        texts = []
        for text in optimized_ir.split(MODULE_SEPARATOR):
            module = llvm.parse_assembly(text)
            texts.append(_target_machine(opt_level, target).emit_assembly(module))
        return "\n".join(texts)


def check_symbols(ir_text_symbols: set[str]) -> None:
    """Raise if a symbol the code calls does not resolve (MCJIT would bind it to NULL)."""
    initialize()
    missing = sorted(s for s in ir_text_symbols if llvm.address_of_symbol(s) is None)
    if missing:
        raise RuntimeError(
            f"compiled code needs symbols this process does not provide: {', '.join(missing)}"
        )


def symbols_of_intrinsics(ir_text: str) -> set[str]:
    """The libm symbols the math intrinsics of ``ir_text`` may be lowered to (those that
    become instructions, such as sqrt or floor, resolve too)."""
    from graphc.ops.libm import FUNCTIONS

    found = set()
    for name, suffix in set(_INTRINSIC_CALL.findall(ir_text)):
        function = FUNCTIONS.get(name)
        if function is not None and function.intrinsic:
            found.add(function.libm("float64" if suffix == "f64" else "float32"))
    return found


class LoadedCode:
    """Object code loaded into its own execution engine, which lives as long as this object."""

    def __init__(self, object_code: bytes, symbols: set[str]):
        if any(s.startswith(("gc_vm_", "_ZGV")) for s in symbols) and not vector_math_available():
            raise RuntimeError("this code uses libmvec vector math, unavailable on this machine")
        with _lock:
            if _state.get("vector_math"):
                _bind_vector_math_twins(symbols)
        check_symbols(symbols)
        with _lock:
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine(2))
            for code in _unbundle(object_code):
                engine.add_object_file(llvm.ObjectFileRef.from_data(code))
            engine.finalize_object()
        self._engine = engine

    def address(self, name: str) -> int:
        with _lock:
            address = self._engine.get_function_address(name)
        if not address:
            raise RuntimeError(f"compiled code has no function {name!r}")
        return address
