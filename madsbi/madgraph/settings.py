"""The SBI settings of the ``reweight=madsbi`` plugin: reweight-card commands and their parser.

The same commands are accepted in ``Cards/reweight_card.dat`` (where MadGraph hands each line
to a ``do_<command>`` method of the plugin) and in ``Cards/madsbi_card.dat`` (which MadGraph
never deletes, unlike the reweight card when ``reweight=OFF`` is switched)::

    # parameter NAME BLOCK ID [LOW HIGH]       one line per component of θ, in order
    parameter cHWB SMEFT 9  -1 1
    parameter cW   SMEFT 2  -1 1
    theta0 0 0                               # default: the run's param-card values
                                             # (or by name: theta0 cHWB=0 cW=0)
    basis auto                               # or: basis explicit, then K `basis_point` lines
    basis_point p00 0 0
    point p10_holdout 0.3 -0.7               # extra points: LHE weights and held-out checks
    lhe_weights on                           # also write <rwgt> weights into the LHE file
    sample_id wz_parton                      # shards merge only with the same sample id
    change helicity False                    # accepted; madsbi always sums helicities
    change rwgt_dir rwgt                     # where the compiled matrix element is kept
    launch                                   # optional: marks the end of the settings

Every other line is an error that names the line number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from madsbi.errors import ConfigError, InputError
from madsbi.events.recentre import parse_theta0
from madsbi.theory.polynomial import n_coefficients

#: Commands the plugin understands (besides ``change`` and ``launch``).
COMMANDS = (
    "parameter",
    "theta0",
    "basis",
    "basis_point",
    "point",
    "lhe_weights",
    "sample_id",
)
#: ``change`` options accepted from MadGraph's own reweight-card vocabulary.
CHANGE_OPTIONS = ("helicity", "rwgt_dir", "multicore")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_TRUE = {"on", "true", "t", "yes", "1", ".true."}
_FALSE = {"off", "false", "f", "no", "0", ".false."}


@dataclass(frozen=True)
class ParameterSetting:
    """One component of θ: name, param-card block and entry, optional analysis range."""

    name: str
    block: str
    code: int
    range: tuple[float, float] | None
    line: int


@dataclass(frozen=True)
class PointSetting:
    """A named point θ (a basis point or an extra point)."""

    name: str
    theta: tuple[float, ...]
    line: int


@dataclass(frozen=True)
class SbiSettings:
    """Everything the plugin reads from the card.

    Attributes
    ----------
    parameters : tuple of ParameterSetting
        The parameters of interest, in the order of θ.
    theta0 : tuple of float, or None
        Reference point; ``None`` means the run's param-card values.
    basis : {"auto", "explicit"}
        ``auto`` chooses a well-conditioned basis over the ranges (±1 around θ0 where no range
        is given); ``explicit`` uses the ``basis_point`` lines.
    basis_points, extra_points : tuple of PointSetting
        Explicit basis points; further points evaluated, checked and written as weights.
    lhe_weights : bool
        Write ``<rwgt>`` weights of all points into the run's LHE file.
    sample_id : str
        Sample id recorded in the store.
    rwgt_dir : str or None
        MadGraph's ``change rwgt_dir``: where the compiled matrix element lives.
    source : str
        Where the settings came from (for messages).
    text : str
        The card text.
    """

    parameters: tuple[ParameterSetting, ...]
    theta0: tuple[float, ...] | None = None
    basis: str = "auto"
    basis_points: tuple[PointSetting, ...] = ()
    extra_points: tuple[PointSetting, ...] = ()
    lhe_weights: bool = False
    sample_id: str = ""
    rwgt_dir: str | None = None
    source: str = ""
    text: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in the order of θ."""
        return tuple(p.name for p in self.parameters)


def _float(token: str, what: str, where: str) -> float:
    try:
        value = float(token.replace("d", "e").replace("D", "e"))
    except ValueError:
        raise ConfigError(f"{where}: {what}: expected a number, got {token!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {what}: expected a finite number, got {token!r}")
    return value


def _bool(token: str, what: str, where: str) -> bool:
    low = token.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"{where}: {what}: expected on/off (True/False), got {token!r}")


@dataclass
class SettingsBuilder:
    """Collects card commands one at a time; :meth:`.SettingsBuilder.finish` validates them all.

    Parameters
    ----------
    source : str
        Name of the card, used in messages (``"<source> line <n>"``).
    """

    source: str = "reweight card"
    parameters: list[ParameterSetting] = field(default_factory=list)
    theta0: tuple[float, ...] | None = None
    basis: str = "auto"
    basis_points: list[PointSetting] = field(default_factory=list)
    extra_points: list[PointSetting] = field(default_factory=list)
    lhe_weights: bool = False
    sample_id: str = ""
    rwgt_dir: str | None = None
    lines: list[str] = field(default_factory=list)
    theta0_named: tuple[str, str] | None = None
    n_commands: int = 0
    launched: bool = False

    def _where(self, line: int) -> str:
        return f"{self.source} line {line}"

    def apply(self, text: str, line: int | None = None) -> None:
        """Apply one card line (comments after ``#`` are ignored).

        Raises
        ------
        ConfigError
            Unknown command, wrong number of arguments, bad numbers, or a setting that asks
            for something madsbi does not do (e.g. ``change helicity True``).
        """
        self.lines.append(text)
        line = len(self.lines) if line is None else line
        where = self._where(line)
        tokens = text.split("#", 1)[0].split()
        if not tokens:
            return
        command, args = tokens[0].lower(), tokens[1:]
        if command == "launch":
            if args:
                raise ConfigError(
                    f"{where}: 'launch' takes no arguments with reweight=madsbi (got "
                    f"{' '.join(args)!r}); name points with 'point NAME VALUES...'"
                )
            self.launched = True
            return
        if command == "set":
            raise ConfigError(
                f"{where}: 'set' lines do not define points for reweight=madsbi; use "
                "'point NAME v1 ... vn' with one value per parameter"
            )
        if command == "change":
            self._change(args, where)
            return
        handler = getattr(self, f"_cmd_{command}", None)
        if command not in COMMANDS or handler is None:
            raise ConfigError(
                f"{where}: unknown setting {tokens[0]!r}; known: "
                f"{', '.join((*COMMANDS, 'change', 'launch'))}"
            )
        self.n_commands += 1
        handler(args, where, line)

    def _change(self, args: list[str], where: str) -> None:
        if len(args) < 2:
            raise ConfigError(f"{where}: 'change' needs an option and a value, got {args}")
        option, value = args[0].lower(), args[1]
        if option == "helicity":
            if _bool(value, "change helicity", where):
                raise ConfigError(
                    f"{where}: 'change helicity True' reweights only each event's own "
                    "helicity; madsbi always uses the full amplitude summed over helicities. "
                    "Remove the line or write 'change helicity False'"
                )
        elif option == "rwgt_dir":
            self.rwgt_dir = value
        elif option == "multicore":
            # MadGraph reads this line itself (and ignores 'False'); the plugin makes one
            # pass over the events in any case.
            return
        else:
            raise ConfigError(
                f"{where}: 'change {args[0]}' is not supported with reweight=madsbi; "
                f"supported: {', '.join(CHANGE_OPTIONS)}"
            )

    def _cmd_parameter(self, args: list[str], where: str, line: int) -> None:
        if len(args) not in (3, 5):
            raise ConfigError(
                f"{where}: expected 'parameter NAME BLOCK ID [LOW HIGH]', got {' '.join(args)!r}"
            )
        name, block, code_text = args[:3]
        if not _NAME.match(name):
            raise ConfigError(f"{where}: parameter name {name!r} is not a valid identifier")
        if any(p.name == name for p in self.parameters):
            raise ConfigError(f"{where}: parameter {name!r} is defined twice")
        try:
            code = int(code_text)
        except ValueError:
            raise ConfigError(
                f"{where}: parameter {name!r}: param-card id must be an integer, got {code_text!r}"
            ) from None
        if any(p.block.lower() == block.lower() and p.code == code for p in self.parameters):
            raise ConfigError(f"{where}: param-card entry {block} {code} is used twice")
        rng = None
        if len(args) == 5:
            low = _float(args[3], f"parameter {name!r} range low", where)
            high = _float(args[4], f"parameter {name!r} range high", where)
            if not low < high:
                raise ConfigError(
                    f"{where}: parameter {name!r}: range needs LOW < HIGH, got {low} {high}"
                )
            rng = (low, high)
        self.parameters.append(ParameterSetting(name, block.upper(), code, rng, line))

    def _values(self, args: list[str], what: str, where: str) -> tuple[float, ...]:
        return tuple(_float(a, what, where) for a in args)

    def _cmd_theta0(self, args: list[str], where: str, line: int) -> None:
        if not args:
            raise ConfigError(f"{where}: 'theta0' needs one value per parameter")
        if any("=" in a for a in args):
            # by name: resolved in finish(), once every parameter line is known
            self.theta0_named = (",".join(a.strip(",") for a in args if a.strip(",")), where)
            self.theta0 = None
            return
        self.theta0_named = None
        self.theta0 = self._values(args, "theta0", where)

    def _cmd_basis(self, args: list[str], where: str, line: int) -> None:
        if len(args) != 1 or args[0].lower() not in ("auto", "explicit"):
            raise ConfigError(f"{where}: expected 'basis auto' or 'basis explicit', got {args}")
        self.basis = args[0].lower()

    def _point(self, args: list[str], where: str, line: int, kind: str) -> PointSetting:
        if len(args) < 2:
            raise ConfigError(f"{where}: expected '{kind} NAME v1 ... vn', got {args}")
        name = args[0]
        if not _NAME.match(name):
            raise ConfigError(f"{where}: {kind} name {name!r} is not a valid weight id")
        taken = [p.name for p in (*self.basis_points, *self.extra_points)]
        if name in taken:
            raise ConfigError(f"{where}: point name {name!r} is used twice")
        return PointSetting(name, self._values(args[1:], f"{kind} {name!r}", where), line)

    def _cmd_basis_point(self, args: list[str], where: str, line: int) -> None:
        self.basis_points.append(self._point(args, where, line, "basis_point"))

    def _cmd_point(self, args: list[str], where: str, line: int) -> None:
        self.extra_points.append(self._point(args, where, line, "point"))

    def _cmd_lhe_weights(self, args: list[str], where: str, line: int) -> None:
        if len(args) != 1:
            raise ConfigError(f"{where}: expected 'lhe_weights on|off', got {args}")
        self.lhe_weights = _bool(args[0], "lhe_weights", where)

    def _cmd_sample_id(self, args: list[str], where: str, line: int) -> None:
        if len(args) != 1:
            raise ConfigError(f"{where}: expected 'sample_id NAME', got {args}")
        self.sample_id = args[0]

    def finish(self) -> SbiSettings:
        """Validate the collected settings.

        Raises
        ------
        ConfigError
            No parameters, θ0 or points of the wrong length, an explicit basis without
            exactly K points, or basis points given with ``basis auto``.
        """
        if not self.parameters:
            raise ConfigError(
                f"{self.source}: no 'parameter NAME BLOCK ID [LOW HIGH]' line; madsbi needs "
                "the parameters of interest"
            )
        n = len(self.parameters)
        k = n_coefficients(n)
        if self.theta0_named is not None:
            text, where = self.theta0_named
            try:
                self.theta0 = parse_theta0(text, [p.name for p in self.parameters])
            except InputError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        if self.theta0 is not None and len(self.theta0) != n:
            raise ConfigError(
                f"{self.source}: theta0 has {len(self.theta0)} values, expected {n} (one per "
                "parameter)"
            )
        for point in (*self.basis_points, *self.extra_points):
            if len(point.theta) != n:
                raise ConfigError(
                    f"{self._where(point.line)}: point {point.name!r} has {len(point.theta)} "
                    f"values, expected {n} (one per parameter: {[p.name for p in self.parameters]})"
                )
        if self.basis == "explicit" and len(self.basis_points) != k:
            raise ConfigError(
                f"{self.source}: 'basis explicit' needs exactly K = {k} 'basis_point' lines for "
                f"{n} parameters, got {len(self.basis_points)}"
            )
        if self.basis == "auto" and self.basis_points:
            raise ConfigError(
                f"{self._where(self.basis_points[0].line)}: 'basis_point' needs "
                "'basis explicit' (the default is 'basis auto')"
            )
        return SbiSettings(
            parameters=tuple(self.parameters),
            theta0=self.theta0,
            basis=self.basis,
            basis_points=tuple(self.basis_points),
            extra_points=tuple(self.extra_points),
            lhe_weights=self.lhe_weights,
            sample_id=self.sample_id,
            rwgt_dir=self.rwgt_dir,
            source=self.source,
            text="\n".join(self.lines),
        )


def parse_settings(text: str, source: str = "reweight card") -> SettingsBuilder:
    """Apply every line of a card; returns the builder (call :meth:`~SettingsBuilder.finish`).

    Raises
    ------
    ConfigError
        On the first bad line, naming its number.
    """
    builder = SettingsBuilder(source=source)
    for number, raw in enumerate(text.splitlines(), start=1):
        builder.apply(raw, number)
    return builder
