# cython: language_level=3
"""The compiled twin of ``_codec_py``, the decoder: same names, same signatures, same
results. (Records are encoded once, in ``_record``.)

``_codec_py`` is the reference (``_record`` specifies the format). Here a record (one
bytes object from a hiredis reply) is walked in place; every read is bounds-checked
against the record's size, and every failure raises the same ``CorruptRecordError`` as
the reference codec, naming the Redis key.
"""

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.bytes cimport PyBytes_CheckExact
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.bytes cimport PyBytes_GET_SIZE
from cpython.datetime cimport datetime_new
from cpython.datetime cimport import_datetime
from cpython.float cimport PyFloat_FromDouble
from cpython.long cimport PyLong_FromDouble
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from cpython.object cimport PyObject_GenericGetDict
from cpython.object cimport PyTypeObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t
from libc.stdint cimport uint32_t
from libc.string cimport memcmp
from libc.string cimport memcpy

import datetime
import gc
import json
import sys

from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import TrialState
import orjson

from optuna_redis._errors import CorruptRecordError
from optuna_redis._keys import TRIAL_NUMBER_BITS
from optuna_redis._trials import FrozenTrial as DecodedTrial

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void* op)
    dict _PyDict_NewPresized(Py_ssize_t minused)

cdef extern from "<time.h>":
    ctypedef long long time_t
    struct tm:
        int tm_sec
        int tm_min
        int tm_hour
        int tm_mday
        int tm_mon
        int tm_year
    tm* localtime_r(const time_t* timep, tm* result)

import_datetime()

if sys.byteorder != "little":
    # Numbers are copied with memcpy; the pure codec serves big-endian hosts.
    raise ImportError("the compiled codec supports little-endian hosts only")

__all__ = [
    "decode_attr",
    "decode_attrs",
    "decode_range",
    "decode_trial",
    "decode_trials",
    "pack_mget",
]

cdef tuple _STATES = tuple(TrialState)
cdef Py_ssize_t _N_STATES = len(_STATES)
cdef int _BITS = TRIAL_NUMBER_BITS
cdef object _MAX_TRIALS = 1 << TRIAL_NUMBER_BITS
cdef object _orjson_loads = orjson.loads
cdef object _json_loads = json.loads
cdef object _fromisoformat = datetime.datetime.fromisoformat
cdef object _UTC = datetime.timezone.utc
cdef object _DecodedTrial = DecodedTrial
cdef object _TRIAL_CLASS = DecodedTrial  # its metaclass is ABCMeta
cdef tuple _NO_ARGS = ()
cdef object _FloatDistribution = FloatDistribution
cdef object _IntDistribution = IntDistribution
cdef object _CategoricalDistribution = CategoricalDistribution


# ---------------------------------------------------------------- decoding


def decode_attr(raw):
    if not isinstance(raw, bytes) or not raw:
        raise ValueError("empty attribute value")
    return _attr(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))


def decode_attrs(str key, dict mapping):
    cdef dict out = {}
    for field, raw in mapping.items():
        try:
            name = (<bytes?>field).decode("utf-8", "surrogatepass")
            out[name] = decode_attr(raw)
        except Exception as e:
            raise CorruptRecordError(
                f"Cannot decode attribute {field!r} at Redis key {key!r}: {e}"
            ) from None
    return out


def decode_trials(str head, study_id, list items, object dists):
    """Decode ``[number, record, number, record, ...]``; return ``[(number, trial), ...]``.

    The cyclic garbage collector is paused for the bulk: it would otherwise run over and
    over as the new objects pile up, and find nothing to free.
    """
    cdef Py_ssize_t i, n = len(items)
    cdef list out = []
    if n % 2:
        raise CorruptRecordError(f"The trial records under {head!r} are not number/record pairs.")
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(0, n, 2):
            number = items[i]
            if type(number) is not int or number < 0:
                raise CorruptRecordError(f"Invalid trial number {number!r} under {head!r}.")
            trial_id = (study_id << _BITS) | number
            try:
                trial = _decode_trial(trial_id, number, items[i + 1], dists)
            except Exception as e:
                raise CorruptRecordError(
                    f"Cannot decode the trial record at Redis key {head + str(number)!r}: {e}"
                ) from None
            pair = (number, trial)
            PyObject_GC_UnTrack(<PyObject*>pair)  # an int and an untracked trial
            out.append(pair)
    finally:
        if was_enabled:
            gc.enable()
    return out


def decode_range(str head, study_id, first, records, object dists, into):
    """Decode ``records``, those of trials ``first``, ``first + 1``, ... (an MGET reply),
    into ``into[first]``, ``into[first + 1]``, ...; return the numbers whose record is None."""
    if type(records) is not list or type(into) is not list:
        raise TypeError("records and into must be lists.")
    if type(first) is not int or first < 0 or first + len(records) > len(into):
        raise ValueError(
            f"Trials {first}..{first}+{len(records)} do not fit a list of {len(into)}."
        )
    cdef list recs = <list>records, out = <list>into, missing = []
    cdef Py_ssize_t i, n = len(recs), base = first
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(n):
            record = recs[i]
            number = base + i
            if record is None:
                missing.append(number)
                continue
            trial_id = (study_id << _BITS) | number
            try:
                trial = _decode_trial(trial_id, number, record, dists)
            except Exception as e:
                raise CorruptRecordError(
                    f"Cannot decode the trial record at Redis key {head + str(number)!r}: {e}"
                ) from None
            out[base + i] = trial
    finally:
        if was_enabled:
            gc.enable()
    return missing


cdef char* _put_digits(char* p, Py_ssize_t v) noexcept:
    """Write v >= 0 in decimal at p; return the end."""
    cdef char tmp[24]
    cdef int k = 0
    while True:
        tmp[k] = <char>(48 + v % 10)
        k += 1
        v //= 10
        if v == 0:
            break
    while k:
        k -= 1
        p[0] = tmp[k]
        p += 1
    return p


cdef inline Py_ssize_t _n_digits(Py_ssize_t v) noexcept:
    cdef Py_ssize_t k = 1
    while v >= 10:
        v //= 10
        k += 1
    return k


def pack_mget(str head, first, stop):
    """The command ``MGET head+str(first) ... head+str(stop - 1)`` in RESP."""
    if type(first) is not int or type(stop) is not int or not 0 <= first < stop <= _MAX_TRIALS:
        raise ValueError(f"Invalid trial number range {first!r}..{stop!r}.")
    cdef bytes prefix = head.encode("utf-8")
    cdef bytes header = b"*%d\r\n$4\r\nMGET\r\n" % (stop - first + 1)
    cdef Py_ssize_t a = first, b = stop, n, key_len, plen = PyBytes_GET_SIZE(prefix)
    cdef Py_ssize_t total = PyBytes_GET_SIZE(header)
    for n in range(a, b):
        key_len = plen + _n_digits(n)
        total += 1 + _n_digits(key_len) + 2 + key_len + 2
    out = PyBytes_FromStringAndSize(NULL, total)
    cdef char* p = PyBytes_AS_STRING(out)
    cdef char* end = p + total
    memcpy(p, PyBytes_AS_STRING(header), PyBytes_GET_SIZE(header))
    p += PyBytes_GET_SIZE(header)
    for n in range(a, b):
        key_len = plen + _n_digits(n)
        p[0] = b"$"
        p = _put_digits(p + 1, key_len)
        p[0] = b"\r"
        p[1] = b"\n"
        memcpy(p + 2, PyBytes_AS_STRING(prefix), plen)
        p = _put_digits(p + 2 + plen, n)
        p[0] = b"\r"
        p[1] = b"\n"
        p += 2
    if p != end:
        raise AssertionError("pack_mget: size mismatch")
    return out


def decode_trial(str key, trial_id, number, record, object dists):
    try:
        return _decode_trial(trial_id, number, record, dists)
    except Exception as e:
        raise CorruptRecordError(f"Cannot decode the trial record at Redis key {key!r}: {e}") from None


cdef inline uint32_t _u32(const unsigned char* p) noexcept:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return v


cdef inline double _f64(const unsigned char* p) noexcept:
    cdef double v
    memcpy(&v, p, 8)
    return v


cdef object _plain_json(const char* p, Py_ssize_t n):
    """The value of JSON text that is a string without escapes or an integer of at most
    18 digits, read without orjson (no bytes object, no call); None for anything else,
    valid or not, which orjson then reads (and refuses with its own error)."""
    cdef Py_ssize_t i, start = 0
    cdef unsigned char c
    cdef long long v = 0
    if n >= 2 and p[0] == b'"' and p[n - 1] == b'"':
        for i in range(1, n - 1):
            c = <unsigned char>p[i]
            if c < 0x20 or c == b'\\' or c == b'"':
                return None
        try:
            return PyUnicode_DecodeUTF8(p + 1, n - 2, NULL)
        except UnicodeDecodeError:
            return None
    if n == 0 or n > 18:
        return None
    if p[0] == b"-":
        start = 1
        if n == 1:
            return None
    if p[start] == b"0" and n - start > 1:
        return None  # a leading zero: not JSON
    for i in range(start, n):
        c = <unsigned char>p[i]
        if c < 48 or c > 57:
            return None
        v = v * 10 + (c - 48)
    return PyLong_FromLongLong(-v if start else v)


cdef object _attr(const char* p, Py_ssize_t n):
    if n == 0:
        raise ValueError("empty attribute value")
    if p[0] == b"j":
        value = _plain_json(p + 1, n - 1)
        if value is not None:
            return value
        return _orjson_loads(PyBytes_FromStringAndSize(p + 1, n - 1))
    if p[0] == b"J":
        return _json_loads(PyBytes_FromStringAndSize(p + 1, n - 1))
    raise ValueError(f"unknown attribute tag {PyBytes_FromStringAndSize(p, 1)!r}")


cdef Py_ssize_t _name_end(
    const unsigned char* buf, Py_ssize_t start, Py_ssize_t end
) except -1:
    """Offset after the u32-length-prefixed name at ``start`` (checked against ``end``)."""
    if end - start < 4:
        raise ValueError(f"entry at offset {start - 5} is too short for a name")
    cdef uint32_t length = _u32(buf + start)
    if length > end - start - 4:
        raise ValueError(f"name at offset {start} runs past its entry")
    return start + 4 + length


cdef inline str _text(const unsigned char* buf, Py_ssize_t start, Py_ssize_t stop):
    return PyUnicode_DecodeUTF8(<const char*>buf + start, stop - start, "surrogatepass")


cdef long long _digits(const unsigned char* p, Py_ssize_t n) noexcept:
    # -1 unless p[0:n] is all ASCII digits.
    cdef long long v = 0
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] < 48 or p[i] > 57:
            return -1
        v = v * 10 + (p[i] - 48)
    return v


cdef long long _days_from_civil(long long y, long long m, long long d) noexcept:
    # Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    y -= m <= 2
    cdef long long era = (y if y >= 0 else y - 399) // 400
    cdef long long yoe = y - era * 400
    cdef long long doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    cdef long long doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline long long _days_in(long long y, long long m) noexcept:
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


cdef object _datetime_at(bytes record, const unsigned char* p, Py_ssize_t start, Py_ssize_t n):
    # Fast path for what _record writes for naive datetimes, YYYY-MM-DDTHH:MM:SS[.ffffff]Z
    # (UTC, read back as local time: localtime_r, which is what Python's astimezone()
    # uses) and format 2's YYYY-MM-DDTHH:MM:SS[.ffffff]; anything else goes to the
    # reference codec's path. datetime_new checks ranges and raises as fromisoformat does.
    p = p + start
    cdef long long year, month, day, hour, minute, second, micro = 0
    cdef bint utc = n > 0 and p[n - 1] == b"Z"
    cdef Py_ssize_t m = n - 1 if utc else n
    cdef time_t t
    cdef tm local
    if (m == 19 or m == 26) and p[4] == b"-" and p[7] == b"-" and p[10] == b"T" \
            and p[13] == b":" and p[16] == b":" and (m == 19 or p[19] == b"."):
        year = _digits(p, 4)
        month = _digits(p + 5, 2)
        day = _digits(p + 8, 2)
        hour = _digits(p + 11, 2)
        minute = _digits(p + 14, 2)
        second = _digits(p + 17, 2)
        if m == 26:
            micro = _digits(p + 20, 6)
        if year >= 1 and month >= 0 and day >= 0 and hour >= 0 and minute >= 0 \
                and second >= 0 and micro >= 0:
            if not utc:
                return datetime_new(year, month, day, hour, minute, second, micro, None)
            # In range (so the arithmetic below is exact), and far enough from the ends
            # of datetime's range that local time cannot leave it.
            if 1 < year < 9999 and 1 <= month <= 12 and 1 <= day <= _days_in(year, month) \
                    and hour <= 23 and minute <= 59 and second <= 59:
                t = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 \
                    + second
                if localtime_r(&t, &local) != NULL:
                    return datetime_new(
                        local.tm_year + 1900, local.tm_mon + 1, local.tm_mday,
                        local.tm_hour, local.tm_min, local.tm_sec, micro, None,
                    )
    return _parse_datetime(record[start:start + n].decode("ascii"))


def _parse_datetime(str text):
    # The reference codec's _parse_datetime, line for line.
    if text.endswith("Z"):
        utc = _fromisoformat(text[:-1]).replace(tzinfo=_UTC)
        return utc.astimezone().replace(tzinfo=None)
    return _fromisoformat(text)


cdef object _external(object dist, double value):
    cdef object kind = type(dist)
    if kind is _FloatDistribution:
        return PyFloat_FromDouble(value)
    if kind is _IntDistribution:
        return PyLong_FromDouble(value)  # ValueError/OverflowError on nan/inf, as int()
    if kind is _CategoricalDistribution or isinstance(dist, _CategoricalDistribution):
        choices = dist.choices
        if not (value == <double><long long>value and 0 <= value < len(choices)):
            raise ValueError(f"categorical index {PyFloat_FromDouble(value)!r} is out of range")
        return choices[<Py_ssize_t>value]
    return dist.to_external_repr(PyFloat_FromDouble(value))


cdef class _Memo:
    """What the decoder saw in the last trials of a study (``StudyDistributions.memo``).

    The trials of a study mostly set the same params and attrs in the same order. So
    ``params[k]`` remembers the k-th param entry seen last, as (name bytes, name, JSON,
    distribution), and ``attr_names[k]`` the k-th attr key, as (bytes, str); a bytewise
    compare confirms a match, and a match reuses the decoded (and already hashed) name and
    distribution. While every param of a trial matches ``params`` in order, its params dict
    starts as a copy of ``params_template`` (those names, in that order) whose values are
    replaced one by one, and its distributions dict is a copy of ``dists_template``: dict
    copies cost a fraction of building the dicts entry by entry.
    """

    cdef list params
    cdef list attr_names
    cdef dict params_template
    cdef dict dists_template
    cdef bint stale
    cdef Py_ssize_t n_steps  # intermediate values of the last trial: the next dict's size

    def __cinit__(self):
        self.params = []
        self.attr_names = []
        self.stale = True

    cdef bint refresh(self) except -1:
        """Rebuild the templates after ``params`` changed; False if they are unusable."""
        cdef tuple slot
        if self.stale:
            self.params_template = {}
            self.dists_template = {}
            for slot in self.params:
                self.params_template[slot[1]] = None
                self.dists_template[slot[1]] = slot[3]
            self.stale = False
        # A record that set one name twice leaves a name twice in ``params``: no template.
        return len(self.params_template) == len(self.params)


cdef _Memo _memo_of(object dists):
    memo = dists.memo
    if type(memo) is not _Memo:
        memo = _Memo()
        dists.memo = memo
    return <_Memo>memo


cdef tuple _param_slot(
    _Memo memo, Py_ssize_t k, bytes record, const unsigned char* buf,
    Py_ssize_t name_start, Py_ssize_t name_stop, Py_ssize_t json_start, Py_ssize_t end,
    object dists, bint* hit,
):
    """(name bytes, name, JSON, distribution) of the k-th param entry of a record.

    ``memo.params[k]`` when name and JSON match it bytewise (an empty JSON means the
    study's registered distribution, which never changes), and ``hit`` is set. Otherwise
    the name is decoded and the distribution looked up, as in ``_codec_py``, and the
    result remembered at ``k``.
    """
    cdef bytes known_name, known_json
    cdef tuple slot
    cdef list seen = memo.params
    cdef Py_ssize_t name_len = name_stop - name_start, json_len = end - json_start
    if k < len(seen):
        slot = <tuple>seen[k]
        known_name = <bytes>slot[0]
        known_json = <bytes>slot[2]
        if PyBytes_GET_SIZE(known_name) == name_len \
                and PyBytes_GET_SIZE(known_json) == json_len \
                and memcmp(PyBytes_AS_STRING(known_name), buf + name_start, name_len) == 0 \
                and memcmp(PyBytes_AS_STRING(known_json), buf + json_start, json_len) == 0:
            hit[0] = True
            return slot
    hit[0] = False
    name = _text(buf, name_start, name_stop)
    if json_len == 0:
        dist = dists.registered.get(name)
        if dist is None:
            raise ValueError(f"param {name!r} has no distribution in its study")
        dist_json = b""
    else:
        dist_json = record[json_start:end]
        dist = dists.parse(dist_json)
    slot = (record[name_start:name_stop], name, dist_json, dist)
    if k < len(seen):
        seen[k] = slot
        memo.stale = True
    elif k == len(seen):
        seen.append(slot)
        memo.stale = True
    return slot


cdef str _attr_name(
    _Memo memo, Py_ssize_t k, bytes record, const unsigned char* buf,
    Py_ssize_t start, Py_ssize_t stop,
):
    """The k-th attr key of a record, from ``memo.attr_names`` when it matches bytewise."""
    cdef list seen = memo.attr_names
    cdef tuple known
    cdef bytes known_name
    cdef Py_ssize_t n = stop - start
    if k < len(seen):
        known = <tuple>seen[k]
        known_name = <bytes>known[0]
        if PyBytes_GET_SIZE(known_name) == n \
                and memcmp(PyBytes_AS_STRING(known_name), buf + start, n) == 0:
            return <str>known[1]
    name = _text(buf, start, stop)
    if k < len(seen):
        seen[k] = (record[start:stop], name)
    elif k == len(seen):
        seen.append((record[start:stop], name))
    return name


cdef dict _first(dict d, Py_ssize_t n):
    """A new dict of the first n items of d."""
    cdef dict out = {}
    if n:
        for key, value in d.items():
            out[key] = value
            n -= 1
            if n == 0:
                break
    return out


cdef object _decode_trial(trial_id, number, record, object dists):
    if not PyBytes_CheckExact(record):
        raise ValueError("the record is not a byte string")
    cdef bytes rec = <bytes>record
    cdef const unsigned char* buf = <const unsigned char*>PyBytes_AS_STRING(rec)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(rec)
    if size == 0:
        raise ValueError("the record is empty")
    if buf[0] < 48 or buf[0] >= 48 + _N_STATES:
        raise ValueError(f"invalid state {rec[:1]!r}")
    state = _STATES[buf[0] - 48]
    values = None
    datetime_start = None
    datetime_complete = None
    cdef dict params = {}
    cdef dict distributions = {}
    cdef dict user_attrs = {}
    cdef dict system_attrs = {}
    cdef _Memo memo = _memo_of(dists)
    # Sized as the last trial's, so 10 steps do not grow the dict from 8 slots to 16.
    cdef dict intermediate_values = _PyDict_NewPresized(memo.n_steps) if memo.n_steps > 5 else {}
    # While True, every param so far matched memo.params at its position, and params is
    # a copy of memo.params_template with the first n_params values replaced.
    cdef bint templated = memo.refresh()
    cdef bint hit
    cdef Py_ssize_t pos = 1, start, end, rest, k, n_params = 0, n_attrs = 0
    cdef uint32_t length
    cdef unsigned char tag
    cdef int64_t step
    cdef tuple slot
    while pos < size:
        if size - pos < 5:
            raise ValueError(f"truncated entry header at offset {pos}")
        tag = buf[pos]
        length = _u32(buf + pos + 1)
        start = pos + 5
        if length > size - start:
            raise ValueError(f"entry at offset {pos} runs past the end of the record")
        end = start + length
        if tag == b"P":
            rest = _name_end(buf, start, end)
            if end - rest < 8:
                raise ValueError(f"param entry at offset {pos} is too short")
            slot = _param_slot(
                memo, n_params, rec, buf, start + 4, rest, rest + 8, end, dists, &hit
            )
            value = _external(slot[3], _f64(buf + rest))
            if templated and not hit:
                # Leave the template: keep what this record set so far, in its order.
                templated = False
                params = _first(params, n_params)
                distributions = _first(memo.dists_template, n_params)
            elif templated and n_params == 0:
                params = memo.params_template.copy()
            n_params += 1
            params[slot[1]] = value
            if not templated:
                distributions[slot[1]] = slot[3]
        elif tag == b"I":
            if length != 16:
                raise ValueError(f"intermediate value entry at offset {pos} is not 16 bytes")
            memcpy(&step, buf + start, 8)
            intermediate_values[PyLong_FromLongLong(step)] = PyFloat_FromDouble(_f64(buf + start + 8))
        elif tag == b"U":
            rest = _name_end(buf, start, end)
            # The name before the value, as the reference does.
            name = _attr_name(memo, n_attrs, rec, buf, start + 4, rest)
            n_attrs += 1
            user_attrs[name] = _attr(<const char*>buf + rest, end - rest)
        elif tag == b"A":
            rest = _name_end(buf, start, end)
            name = _attr_name(memo, n_attrs, rec, buf, start + 4, rest)
            n_attrs += 1
            system_attrs[name] = _attr(<const char*>buf + rest, end - rest)
        elif tag == b"V":
            if length % 8:
                raise ValueError(f"values entry at offset {pos} is not a whole number of doubles")
            values = [PyFloat_FromDouble(_f64(buf + k)) for k in range(start, end, 8)]
        elif tag == b"D":
            datetime_start = _datetime_at(rec, buf, start, length)
        elif tag == b"C":
            datetime_complete = _datetime_at(rec, buf, start, length)
        else:
            raise ValueError(f"unknown entry tag {rec[pos:pos + 1]!r} at offset {pos}")
        pos = end

    memo.n_steps = len(intermediate_values)
    if templated:
        if n_params == len(memo.params):
            distributions = memo.dists_template.copy()
        else:  # fewer params than the template (e.g. a trial still running)
            params = _first(params, n_params)
            distributions = _first(memo.dists_template, n_params)

    # FrozenTrial.__init__ only stores its arguments (values as a new list); the record
    # was checked above, so the attributes are set directly, in __init__'s order, on the
    # FrozenTrial subclass both codecs return (see _trials).
    # object.__new__ without the call machinery; the class has no __new__ of its own.
    trial = (<PyTypeObject*>_TRIAL_CLASS).tp_new(<type>_TRIAL_CLASS, <PyObject*>_NO_ARGS, NULL)
    cdef dict d = PyObject_GenericGetDict(trial, NULL)
    d["_number"] = number
    d["state"] = state
    d["_values"] = values
    d["_datetime_start"] = datetime_start
    d["datetime_complete"] = datetime_complete
    d["_params"] = params
    d["_user_attrs"] = user_attrs
    d["_system_attrs"] = system_attrs
    d["intermediate_values"] = intermediate_values
    d["_distributions"] = distributions
    d["_trial_id"] = trial_id
    # The cyclic GC need not track what was built here: the trial, its attribute dict,
    # its distributions dict and its values list reference nothing that refers back to
    # them (distributions are shared values, attribute values fresh JSON), so reference
    # counting frees them. Left tracked, every full collection after a bulk load would
    # walk them all, costing as much as decoding them did. (Params, intermediate values
    # and attrs of scalars are dicts CPython never tracks.)
    PyObject_GC_UnTrack(<PyObject*>trial)
    PyObject_GC_UnTrack(<PyObject*>d)
    PyObject_GC_UnTrack(<PyObject*>distributions)
    if values is not None:
        PyObject_GC_UnTrack(<PyObject*>values)
    # Attribute values are fresh JSON trees: no cycles, shared with nothing.
    _untrack_json(user_attrs)
    _untrack_json(system_attrs)
    return trial


cdef void _untrack_json(object value) except *:
    if type(value) is dict:
        for item in (<dict>value).values():
            _untrack_json(item)
        PyObject_GC_UnTrack(<PyObject*>value)
    elif type(value) is list:
        for item in <list>value:
            _untrack_json(item)
        PyObject_GC_UnTrack(<PyObject*>value)
