"""LLVM IR text for one function: SSA values, basic blocks, loops, and the scalar vocabulary that
elementwise op records lower through (``em.arith``, ``em.call``, ``em.cmp`` ...).

IR is emitted as text with f-strings: about ten times faster than ``llvmlite.ir`` on large
graphs (measured with llvmlite 0.50: 0.4 s of Python time for 100,000 ops, against 3.5-10 s
building ``llvmlite.ir`` objects). Invariants:
- A :class:`Value` carries its graphc dtype; every method returns a new Value and checks that
  its operands agree, so a type error in lowering fails in Python, never inside LLVM.
- Floating-point instructions carry no fast-math flags unless the function was built with
  ``reassociate=True``, and then only ``reassoc`` on reduction accumulators: results stay
  IEEE-exact by default (nan, inf and signed zeros propagate as numpy's do).
- Constants are written as hexadecimal bit patterns, so every value (nan, -0.0, subnormals,
  float32 values) reaches LLVM exactly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from llvmlite.binding import llvm_version_info

from graphc import dtypes
from graphc.ops.libm import MathFunction, lookup

LLVM_TYPES = {
    dtypes.FLOAT64: "double",
    dtypes.FLOAT32: "float",
    dtypes.INT64: "i64",
    dtypes.BOOL: "i1",
}
# How a dtype sits in memory: booleans are bytes, like numpy's.
MEMORY_TYPES = {**LLVM_TYPES, dtypes.BOOL: "i8"}
ITEM_SIZES = {dtypes.FLOAT64: 8, dtypes.FLOAT32: 4, dtypes.INT64: 8, dtypes.BOOL: 1}

_FLOAT_ARITH = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv", "rem": "frem"}
# "rem" is C's %, truncating; a zero or (INT64_MIN, -1) divisor is undefined: guard it first.
_INT_ARITH = {"add": "add", "sub": "sub", "mul": "mul", "rem": "srem"}
_FLOAT_CMP = {"lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge", "eq": "oeq", "ne": "une"}
_INT_CMP = {"lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge", "eq": "eq", "ne": "ne"}
# Booleans order as the integers 0 and 1 (numpy's rule): unsigned, since a signed i1 reads true
# as -1.
_BOOL_CMP = {"lt": "ult", "le": "ule", "gt": "ugt", "ge": "uge", "eq": "eq", "ne": "ne"}


@dataclass(frozen=True, slots=True)
class Value:
    text: str  # an SSA name (%v3) or a literal
    dtype: str

    @property
    def type(self) -> str:
        return LLVM_TYPES[self.dtype]


def literal(value: object, dtype: str) -> str:
    """``value`` as an LLVM literal of ``dtype``; floats as exact hex bit patterns."""
    if dtype in dtypes.FLOATS:
        # LLVM writes float constants as the double with the same value, in hex.
        as_double = float(np.float32(value) if dtype == dtypes.FLOAT32 else value)  # type: ignore[arg-type]
        return f"0x{struct.unpack('<Q', struct.pack('<d', as_double))[0]:016X}"
    if dtype == dtypes.BOOL:
        return "true" if value else "false"
    return str(int(value))  # type: ignore[call-overload]


# Scalar twins of libm functions with libmvec variants, named privately so LLVM does not turn
# them back into intrinsics; the engine binds each to libm's function when code is loaded.
VECTOR_PREFIX = "gc_vm_"


# Marks the functions LLVM's IR optimizer leaves alone (large straight-line parts, already
# simplified, folded and CSE'd by graphc): O2 improved nothing in them but its DSE and GVN grew
# superlinearly with their stores. The engine removes it before code generation.
UNOPTIMIZED = "optnone"


# Loops that contain loops are never unrolled: LLVM fully unrolls a loop of a few iterations
# around a long inner loop (a (8, 1000) map took eight times as long to compile as a (1, 1000)
# one) for no gain. One metadata node for all of them keeps identical kernels identical text.
OUTER_LOOP = "!0"
# Between the modules of one IR text (see Module.separate).
MODULE_SEPARATOR = "\n; ---- graphc: next module ----\n"


class Module:
    """Declarations and functions of one LLVM module."""

    def __init__(self, vector_math: bool = False) -> None:
        self.declarations: set[str] = set()
        self.functions: list[str] = []
        self.external_symbols: set[str] = set()
        self.vector_math = vector_math
        self.call_attributes: dict[str, int] = {}  # scalar symbol -> attribute group
        self.kept_alive: list[str] = []  # vector variants listed in @llvm.compiler.used
        # Functions of the other modules (1, 2, ...): same declarations, compiled apart; the
        # first module declares them (``imports``).
        self.separate: dict[int, list[str]] = {}
        self.imports: list[str] = []

    def declare_math(self, function: MathFunction, dtype: str) -> str:
        """Declare ``function`` for ``dtype`` (see ``graphc.ops.libm``); returns the symbol to
        call: the libmvec-backed twin with ``vector_math``, else the LLVM intrinsic where this
        LLVM has it, else glibc's symbol."""
        ty = LLVM_TYPES[dtype]
        if self.vector_math and function.vector:
            return self._declare_vector_math(function.libm(dtype), dtype, function.arity)
        params = ", ".join([ty] * function.arity + (["ptr"] if function.sign_out else []))
        if function.intrinsic and llvm_version_info[0] >= function.intrinsic_since:
            symbol = function.intrinsic_name(dtype)
        else:
            symbol = function.libm(dtype)
            self.external_symbols.add(symbol)
        # A function with an out-parameter writes memory: only the argument it is given.
        effects = "memory(argmem: write)" if function.sign_out else "readnone"
        self.declarations.add(f"declare {ty} @{symbol}({params}) nounwind {effects}")
        return symbol

    def _declare_vector_math(self, libm: str, dtype: str, arity: int) -> str:
        ty = LLVM_TYPES[dtype]
        scalar = VECTOR_PREFIX + libm
        if scalar not in self.call_attributes:
            lanes = 4 if dtype == dtypes.FLOAT64 else 8
            vector = f"_ZGVdN{lanes}{'v' * arity}_{libm}"
            vty = f"<{lanes} x {ty}>"
            params = ", ".join([ty] * arity)
            self.declarations.add(f"declare {ty} @{scalar}({params}) nounwind readnone")
            self.declarations.add(
                f"declare {vty} @{vector}({', '.join([vty] * arity)}) nounwind readnone"
            )
            group = len(self.call_attributes) + 1
            self.call_attributes[scalar] = group
            mangled = f"_ZGV_LLVM_N{lanes}{'v' * arity}_{scalar}({vector})"
            self.declarations.add(
                f'attributes #{group} = {{ "vector-function-abi-variant"="{mangled}" }}'
            )
            self.kept_alive.append(vector)
            self.external_symbols.update({scalar, vector})
        return scalar

    def declare(self, line: str) -> None:
        self.declarations.add(line)

    def text(self) -> str:
        """The module's IR, followed by the other modules' (MODULE_SEPARATOR between them)."""
        first = self._module_text(self.functions, tuple(self.imports))
        others = [self._module_text(self.separate[k]) for k in sorted(self.separate)]
        return MODULE_SEPARATOR.join([first, *others])

    def _module_text(self, functions: list[str], imports: tuple[str, ...] = ()) -> str:
        parts = sorted(self.declarations) + list(imports)
        if self.kept_alive:  # without this the vector declarations are dropped before use
            used = ", ".join(f"ptr @{name}" for name in sorted(self.kept_alive))
            parts.append(
                f"@llvm.compiler.used = appending global [{len(self.kept_alive)} x ptr] "
                f'[{used}], section "llvm.metadata"'
            )
        text = "\n".join(parts) + "\n\n" + "\n\n".join(functions) + "\n"
        if OUTER_LOOP in text:
            text += f"\n{OUTER_LOOP} = distinct !{{{OUTER_LOOP}, !1}}\n"
            text += '!1 = !{!"llvm.loop.unroll.disable"}\n'
        return text


class FunctionBuilder:
    """Builds one function's body; the elementwise op records call its scalar methods."""

    def __init__(self, module: Module, reassociate: bool = False):
        self.module = module
        self.lines: list[str] = []
        self.allocas: list[str] = []
        self.counter = 0
        self.block = "entry"
        self.reassociate = reassociate
        self.instructions = 0
        self.open_loops: list[dict] = []  # loops begun and not yet ended, outermost first

    # -- plumbing -----------------------------------------------------------------------------
    def fresh(self, hint: str = "v") -> str:
        self.counter += 1
        return f"%{hint}{self.counter}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)
        self.instructions += 1

    def instr(self, dtype: str, text: str, hint: str = "v") -> Value:
        name = self.fresh(hint)
        self.emit(f"{name} = {text}")
        return Value(name, dtype)

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")
        self.block = name

    def new_block(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}{self.counter}"

    def alloca(self, llvm_type: str, count: int = 1, align: int = 8) -> str:
        name = self.fresh("a")
        size = f", i64 {count}" if count != 1 else ""
        self.allocas.append(f"  {name} = alloca {llvm_type}{size}, align {align}")
        return name

    def text(self, header: str, ret: str = "ret void") -> str:
        """The finished function: ``header``, the allocas, the body and ``ret``."""
        self.emit(ret)
        return "\n".join([header + " {", "entry:", *self.allocas, *self.lines, "}"])

    def finish(self, header: str, ret: str = "ret void") -> str:
        """Finish the function and add it to the module."""
        text = self.text(header, ret)
        self.module.functions.append(text)
        return text

    # -- memory -------------------------------------------------------------------------------
    def gep(self, base: str, index: str | int, dtype: str) -> str:
        if index == 0 or index == "0":
            return base
        name = self.fresh("p")
        self.emit(f"{name} = getelementptr inbounds {MEMORY_TYPES[dtype]}, ptr {base}, i64 {index}")
        return name

    def gep_bytes(self, base: str, offset: str | int) -> str:
        if offset == 0:
            return base
        name = self.fresh("p")
        self.emit(f"{name} = getelementptr inbounds i8, ptr {base}, i64 {offset}")
        return name

    def load(self, pointer: str, dtype: str) -> Value:
        mem = MEMORY_TYPES[dtype]
        value = self.instr(dtype, f"load {mem}, ptr {pointer}")
        if dtype == dtypes.BOOL:
            return self.instr(dtype, f"trunc i8 {value.text} to i1")
        return value

    def load_pointer(self, pointer: str) -> str:
        name = self.fresh("p")
        self.emit(f"{name} = load ptr, ptr {pointer}")
        return name

    def store(self, value: Value, pointer: str) -> None:
        text = value.text
        if value.dtype == dtypes.BOOL:
            text = self.instr(dtypes.BOOL, f"zext i1 {text} to i8").text
        self.emit(f"store {MEMORY_TYPES[value.dtype]} {text}, ptr {pointer}")

    def index_arith(self, op: str, a: str | int, b: str | int) -> str:
        name = self.fresh("i")
        self.emit(f"{name} = {op} i64 {a}, {b}")
        return name

    # -- loops ----------------------------------------------------------------------------------
    def loop_begin(self, count: int | str) -> tuple[str, dict]:
        """Start a do-while loop over ``0 <= i < count``; returns (i, state).

        The condition is tested at the bottom, so the body runs at least once: a literal count
        must be at least 1 (callers skip empty loop nests), a runtime count must be guarded.
        """
        if isinstance(count, int) and count < 1:
            raise ValueError(f"internal error: a loop of {count} iterations was emitted")
        header = self.new_block("loop")
        self.emit(f"br label %{header}")
        pre = self.block
        self.label(header)
        index = self.fresh("i")
        phi_position = len(self.lines)
        self.lines.append("")  # the phi, written at loop_end once the latch block is known
        state = {"header": header, "pre": pre, "index": index, "phi": phi_position, "n": count}
        if self.open_loops:
            self.open_loops[-1]["outer"] = True
        self.open_loops.append(state)
        return index, state

    def loop_end(self, state: dict) -> None:
        index = state["index"]
        following = self.index_arith("add nuw nsw", index, 1)
        done = self.fresh("c")
        self.emit(f"{done} = icmp ult i64 {following}, {state['n']}")
        exit_block = self.new_block("after")
        metadata = f", !llvm.loop {OUTER_LOOP}" if state.get("outer") else ""
        self.emit(f"br i1 {done}, label %{state['header']}, label %{exit_block}{metadata}")
        self.open_loops.remove(state)
        self.lines[state["phi"]] = (
            f"  {index} = phi i64 [0, %{state['pre']}], [{following}, %{self.block}]"
        )
        self.label(exit_block)

    # -- the scalar vocabulary of op records ------------------------------------------------------
    def const(self, value: object, dtype: str) -> Value:
        return Value(literal(value, dtype), dtype)

    def cast(self, value: Value, dtype: str) -> Value:
        source = value.dtype
        if source == dtype:
            return value
        src, dst = LLVM_TYPES[source], LLVM_TYPES[dtype]
        if source in dtypes.FLOATS and dtype in dtypes.FLOATS:
            op = "fpext" if dtype == dtypes.FLOAT64 else "fptrunc"
            return self.instr(dtype, f"{op} {src} {value.text} to {dst}")
        if source in dtypes.FLOATS and dtype == dtypes.INT64:
            # Saturating conversion: nan -> 0, out of range -> the nearest bound, never poison.
            suffix = "f64" if source == dtypes.FLOAT64 else "f32"
            self.module.declare(f"declare i64 @llvm.fptosi.sat.i64.{suffix}({src})")
            return self.instr(dtype, f"call i64 @llvm.fptosi.sat.i64.{suffix}({src} {value.text})")
        if source in dtypes.FLOATS and dtype == dtypes.BOOL:
            return self.instr(dtype, f"fcmp une {src} {value.text}, 0.0")  # nan is true
        if source == dtypes.INT64 and dtype in dtypes.FLOATS:
            return self.instr(dtype, f"sitofp i64 {value.text} to {dst}")
        if source == dtypes.INT64 and dtype == dtypes.BOOL:
            return self.instr(dtype, f"icmp ne i64 {value.text}, 0")
        if source == dtypes.BOOL and dtype in dtypes.FLOATS:
            return self.instr(dtype, f"uitofp i1 {value.text} to {dst}")
        if source == dtypes.BOOL and dtype == dtypes.INT64:
            return self.instr(dtype, f"zext i1 {value.text} to i64")
        raise TypeError(f"no cast from {source} to {dtype}")

    def _same(self, op: str, *values: Value) -> str:
        dtype = values[0].dtype
        for value in values[1:]:
            if value.dtype != dtype:
                raise TypeError(f"{op}: operand dtypes differ ({values[0].dtype}, {value.dtype})")
        return dtype

    def arith(self, kind: str, a: Value, b: Value, flags: str = "") -> Value:
        dtype = self._same(kind, a, b)
        if dtype in dtypes.FLOATS:
            op = _FLOAT_ARITH[kind]
            flag = f" {flags}" if flags else ""
            return self.instr(dtype, f"{op}{flag} {a.type} {a.text}, {b.text}")
        if kind not in _INT_ARITH:
            raise TypeError(f"{kind} on {dtype} values has no integer lowering")
        return self.instr(dtype, f"{_INT_ARITH[kind]} {a.type} {a.text}, {b.text}")

    def neg(self, a: Value) -> Value:
        if a.dtype in dtypes.FLOATS:
            return self.instr(a.dtype, f"fneg {a.type} {a.text}")
        return self.instr(a.dtype, f"sub {a.type} 0, {a.text}")

    def call(self, function: str | MathFunction, *args: Value) -> Value:
        """``function(*args)``: a math function of ``graphc.ops.libm``, by name or declaration."""
        if isinstance(function, str):
            function = lookup(function)
        dtype = self._same(function.name, *args)
        if dtype not in dtypes.FLOATS:
            raise TypeError(f"{function.name}: math functions take floats, got {dtype}")
        if len(args) != function.arity:
            raise TypeError(f"{function.name} takes {function.arity} arguments, got {len(args)}")
        symbol = self.module.declare_math(function, dtype)
        operands = [f"{a.type} {a.text}" for a in args]
        if function.sign_out and not symbol.startswith("llvm."):
            operands.append(f"ptr {self.alloca('i32', align=4)}")  # the sign, unused
        group = self.module.call_attributes.get(symbol)
        suffix = f" #{group}" if group else ""
        return self.instr(dtype, f"call {args[0].type} @{symbol}({', '.join(operands)}){suffix}")

    def cmp(self, pred: str, a: Value, b: Value) -> Value:
        dtype = self._same(pred, a, b)
        if dtype in dtypes.FLOATS:
            return self.instr(dtypes.BOOL, f"fcmp {_FLOAT_CMP[pred]} {a.type} {a.text}, {b.text}")
        table = _BOOL_CMP if dtype == dtypes.BOOL else _INT_CMP
        return self.instr(dtypes.BOOL, f"icmp {table[pred]} {a.type} {a.text}, {b.text}")

    def isnan(self, a: Value) -> Value:
        return self.instr(dtypes.BOOL, f"fcmp uno {a.type} {a.text}, 0.0")

    def select(self, cond: Value, a: Value, b: Value) -> Value:
        dtype = self._same("select", a, b)
        return self.instr(dtype, f"select i1 {cond.text}, {a.type} {a.text}, {b.type} {b.text}")

    def logic(self, kind: str, a: Value, b: Value) -> Value:
        return self.instr(dtypes.BOOL, f"{kind} i1 {a.text}, {b.text}")

    def logic_not(self, a: Value) -> Value:
        return self.instr(dtypes.BOOL, f"xor i1 {a.text}, true")
