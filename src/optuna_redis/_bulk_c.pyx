# cython: language_level=3
"""The compiled twin of ``_bulk_py``: the records of whole trials for copies, and the
trials digest. Same names, same bytes, same errors.

The common shapes (float and int params, float values, int steps, attrs orjson writes
exactly, naive datetimes when local time is UTC) are written here, straight into a
buffer. Anything else, and every error, goes through the reference's own functions, for
that entry (the encoder) or that trial (the digest), so both twins agree on every input.
"""

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.bytes cimport PyBytes_GET_SIZE
from cpython.datetime cimport PyDateTime_CheckExact
from cpython.datetime cimport datetime_day
from cpython.datetime cimport datetime_hour
from cpython.datetime cimport datetime_microsecond
from cpython.datetime cimport datetime_minute
from cpython.datetime cimport datetime_month
from cpython.datetime cimport datetime_second
from cpython.datetime cimport datetime_tzinfo
from cpython.datetime cimport datetime_year
from cpython.datetime cimport import_datetime
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free
from cpython.mem cimport PyMem_Realloc
from libc.stdint cimport int64_t
from libc.stdint cimport uint32_t
from libc.stdio cimport snprintf
from libc.string cimport memcpy

import hashlib
import sys

from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
import orjson

from optuna_redis import _bulk_py
from optuna_redis import _record

import_datetime()

if sys.byteorder != "little":
    # Numbers are copied with memcpy; the pure twin serves big-endian hosts.
    raise ImportError("the compiled bulk encoder supports little-endian hosts only")

__all__ = ["DistributionJson", "TrialsEncoder", "trials_digest"]

DistributionJson = _bulk_py.DistributionJson

cdef object _Float = FloatDistribution
cdef object _Int = IntDistribution
cdef object _Categorical = CategoricalDistribution
cdef object _dumps = orjson.dumps
cdef object _ATTR_OPTIONS = _record._ORJSON_OPTIONS
cdef object _DIGEST_ATTR_OPTIONS = _bulk_py._DIGEST_ATTRS
cdef object _encode_state = _record.encode_state
cdef object _encode_name = _record.encode_name
cdef object _encode_attr = _record.encode_attr
cdef object _start_entry = _record.datetime_start_entry
cdef object _complete_entry = _record.datetime_complete_entry
cdef object _values_entry = _record.values_entry
cdef object _intermediate_entries = _record.intermediate_entries
cdef object _local_zone_is_utc = _record.local_zone_is_utc
cdef object _pack_internal = _bulk_py.pack_internal
cdef object _pack_key = _bulk_py.pack_key
cdef object _attr_entries = _bulk_py.attr_entries
cdef object _digest_bytes = _bulk_py.digest_bytes
cdef object _attrs_json = _bulk_py.attrs_json
cdef object _Reference = _bulk_py.TrialsEncoder
cdef uint32_t _STEP_SIZE = 16
cdef Py_ssize_t _FLUSH = 1 << 20
cdef Py_ssize_t _MAX_PAYLOAD = 0xFFFFFFFF


# ---------------------------------------------------------------- the buffer

cdef class _Buffer:
    """Bytes written at the end of a growing block."""

    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t cap

    def __dealloc__(self):
        PyMem_Free(self.data)

    cdef int grow(self, Py_ssize_t need) except -1:
        cdef Py_ssize_t cap = self.cap * 2 if self.cap else 4096
        while cap < self.size + need:
            cap *= 2
        cdef char* data = <char*>PyMem_Realloc(self.data, cap)
        if data == NULL:
            raise MemoryError()
        self.data = data
        self.cap = cap
        return 0

    cdef inline int put(self, const char* p, Py_ssize_t n) except -1:
        if self.size + n > self.cap:
            self.grow(n)
        memcpy(self.data + self.size, p, n)
        self.size += n
        return 0

    cdef inline int put_bytes(self, bytes b) except -1:
        return self.put(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    cdef inline int put_byte(self, char c) except -1:
        return self.put(&c, 1)

    cdef inline int put_u32(self, uint32_t v) except -1:
        return self.put(<char*>&v, 4)

    cdef inline int put_i64(self, int64_t v) except -1:
        return self.put(<char*>&v, 8)

    cdef inline int put_f64(self, double v) except -1:
        return self.put(<char*>&v, 8)

    cdef bytes take(self, Py_ssize_t start):
        """The bytes from ``start`` on, which are then dropped."""
        out = PyBytes_FromStringAndSize(self.data + start, self.size - start)
        self.size = start
        return out


cdef bint _has_null(bytes text):
    """Whether orjson's output holds ``null`` (None, or a NaN or ±inf it wrote so)."""
    cdef const char* p = PyBytes_AS_STRING(text)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(text) - 3
    for i in range(n):
        if p[i] == b"n" and p[i + 1] == b"u" and p[i + 2] == b"l" and p[i + 3] == b"l":
            return True
    return False


cdef bint _same_distribution(object seen, object dist) except -1:
    """``_bulk_py.same_distribution``."""
    if seen is dist:
        return True
    kind = type(dist)
    if type(seen) is not kind or seen.__dict__ != dist.__dict__:
        return False
    if kind is not _Categorical:
        return True
    cdef tuple a = seen.choices, b = dist.choices
    cdef Py_ssize_t i
    if len(a) != len(b):
        return False
    for i in range(len(a)):
        if type(a[i]) is not type(b[i]):
            return False
    return True


cdef int _fast_internal(object dist, object value, double* out) except -1:
    """A float or int param's internal value, as its distribution's ``to_internal_repr``
    gives it: 1, with the value in ``out``; 0 when that call must decide (it may raise)."""
    cdef double v
    cdef long long n
    cdef int overflow = 0
    kind = type(dist)
    if kind is _Float and type(value) is float:
        v = PyFloat_AS_DOUBLE(value)
        if v != v or (v <= 0.0 and dist.log):
            return 0
        out[0] = v
        return 1
    if kind is _Int and type(value) is int:
        n = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow or (n <= 0 and dist.log):
            return 0
        out[0] = <double>n
        return 1
    return 0


cdef int _number(object internal, double* out) except -1:
    """An internal value as a double: 1, or 0 when it is neither a float nor an int."""
    cdef long long n
    cdef int overflow = 0
    if type(internal) is float:
        out[0] = PyFloat_AS_DOUBLE(internal)
        return 1
    if type(internal) is int:
        n = PyLong_AsLongLongAndOverflow(internal, &overflow)
        if overflow:
            return 0
        out[0] = <double>n
        return 1
    return 0


cdef int _put_naive_utc(_Buffer buf, char tag, object value) except -1:
    """A naive datetime's entry when local time is UTC: ``isoformat()`` and ``Z``."""
    cdef char text[40]
    cdef int n
    cdef int us = datetime_microsecond(value)
    if us:
        n = snprintf(
            text, sizeof(text), b"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
            datetime_year(value), datetime_month(value), datetime_day(value),
            datetime_hour(value), datetime_minute(value), datetime_second(value), us,
        )
    else:
        n = snprintf(
            text, sizeof(text), b"%04d-%02d-%02dT%02d:%02d:%02dZ",
            datetime_year(value), datetime_month(value), datetime_day(value),
            datetime_hour(value), datetime_minute(value), datetime_second(value),
        )
    buf.put_byte(tag)
    buf.put_u32(<uint32_t>n)
    buf.put(text, n)
    return 0


# ---------------------------------------------------------------- the encoder

cdef class TrialsEncoder:
    """``_bulk_py.TrialsEncoder``; it shares its memos with a reference encoder, which
    writes what this one leaves to it."""

    cdef public dict known
    cdef dict _params
    cdef dict _user_keys
    cdef dict _system_keys
    cdef object _reference
    cdef _Buffer _buf

    def __init__(self, dict known, params=None, user_keys=None, system_keys=None):
        self.known = known
        self._params = {} if params is None else params
        self._user_keys = {} if user_keys is None else user_keys
        self._system_keys = {} if system_keys is None else system_keys
        self._reference = _Reference(known, self._params, self._user_keys, self._system_keys)
        self._buf = _Buffer()

    def encode(self, trials):
        cdef dict new = {}
        cdef bint utc = _local_zone_is_utc()
        records = [self.encode_one(trial, new, utc) for trial in trials]
        return [(_encode_name(k, "param name"), v) for k, v in new.items()], records

    def encode_one(self, trial, dict new, bint utc):
        params = trial.params
        dists = trial.distributions
        if type(params) is not dict or type(dists) is not dict:
            return self._reference.encode_one(trial, new, utc)
        cdef _Buffer buf = self._buf
        buf.size = 0
        buf.put_bytes(_encode_state(trial.state))
        self._datetime(buf, b"D", trial.datetime_start, utc, _start_entry)
        self._datetime(buf, b"C", trial.datetime_complete, utc, _complete_entry)
        values = trial.values
        if values is not None:
            self._values(buf, values)
        self._params_entries(buf, <dict>params, <dict>dists, new)
        self._intermediate(buf, trial.intermediate_values)
        self._attrs(buf, b"U", trial.user_attrs, self._user_keys, "user attribute key")
        self._attrs(buf, b"A", trial.system_attrs, self._system_keys, "system attribute key")
        return buf.take(0)

    cdef int _datetime(self, _Buffer buf, char tag, object value, bint utc, object entry) except -1:
        if value is None:
            return 0
        if utc and PyDateTime_CheckExact(value) and datetime_tzinfo(value) is None:
            return _put_naive_utc(buf, tag, value)
        return buf.put_bytes(entry(value, utc))

    cdef int _values(self, _Buffer buf, object values) except -1:
        cdef Py_ssize_t i, n
        cdef double v
        if type(values) is list:
            n = len(<list>values)
            for i in range(n):
                item = (<list>values)[i]
                if type(item) is not float or PyFloat_AS_DOUBLE(item) != PyFloat_AS_DOUBLE(item):
                    break
            else:
                buf.put_byte(b"V")
                buf.put_u32(<uint32_t>(8 * n))
                for i in range(n):
                    buf.put_f64(PyFloat_AS_DOUBLE((<list>values)[i]))
                return 0
        return buf.put_bytes(_values_entry(values))

    cdef int _params_entries(self, _Buffer buf, dict params, dict dists, dict new) except -1:
        cdef double v
        memo = self._params
        for name, value in params.items():
            dist = dists[name]
            seen = memo.get(name)
            if seen is None or not _same_distribution((<tuple>seen)[0], dist):
                seen = self._reference.param_head(name, dist, new)
            buf.put_bytes((<tuple>seen)[1])
            if _fast_internal(dist, value, &v):
                buf.put_f64(v)
            else:
                buf.put_bytes(_pack_internal(dist.to_internal_repr(value)))
            buf.put_bytes((<tuple>seen)[2])
        return 0

    cdef int _intermediate(self, _Buffer buf, object values) except -1:
        cdef Py_ssize_t mark = buf.size
        cdef long long step
        cdef int overflow = 0
        if type(values) is dict:
            for s, v in (<dict>values).items():
                if type(s) is not int or type(v) is not float:
                    break
                step = PyLong_AsLongLongAndOverflow(s, &overflow)
                if overflow:
                    break
                buf.put_byte(b"I")
                buf.put_u32(_STEP_SIZE)
                buf.put_i64(step)
                buf.put_f64(PyFloat_AS_DOUBLE(v))
            else:
                return 0
            buf.size = mark
        return buf.put_bytes(_intermediate_entries(values))

    cdef int _attrs(
        self, _Buffer buf, char tag, object attrs, dict keys, str what
    ) except -1:
        cdef bytes packed_key, out
        if type(attrs) is not dict:
            return buf.put_bytes(_attr_entries(bytes([tag]), attrs, keys, what))
        for key, value in (<dict>attrs).items():
            packed_key = keys.get(key)
            if packed_key is None:
                packed_key = _pack_key(keys, key, what)
            try:
                out = _dumps(value, option=_ATTR_OPTIONS)
            except TypeError:
                out = None
            if out is not None and PyBytes_GET_SIZE(out) >= _MAX_PAYLOAD - 4096:
                # Too long for an entry: the reference raises.
                buf.put_bytes(_attr_entries(bytes([tag]), {key: value}, keys, what))
                continue
            buf.put_byte(tag)
            if out is None or _has_null(out):
                out = _encode_attr(value)
                buf.put_u32(<uint32_t>(PyBytes_GET_SIZE(packed_key) + PyBytes_GET_SIZE(out)))
                buf.put_bytes(packed_key)
            else:
                buf.put_u32(<uint32_t>(PyBytes_GET_SIZE(packed_key) + 1 + PyBytes_GET_SIZE(out)))
                buf.put_bytes(packed_key)
                buf.put_byte(b"j")
            buf.put_bytes(out)
        return 0


# ---------------------------------------------------------------- the digest

cdef class _Rows:
    """What the digests of a run of trials share: the JSON of their param names and
    distributions, the same for every trial of one search space."""

    cdef list names
    cdef list jsons
    cdef bytes tail


def trials_digest(trials):
    """``_bulk_py.trials_digest``."""
    h = hashlib.sha256()
    to_json = DistributionJson()
    cdef dict packers = {}
    cdef _Buffer buf = _Buffer()
    cdef _Buffer numbers = _Buffer()
    cdef _Rows rows = _Rows()
    cdef Py_ssize_t mark
    for t in trials:
        mark = buf.size
        try:
            done = _digest_fast(buf, numbers, rows, t, to_json)
        except Exception:
            done = False
        if not done:
            buf.size = mark
            buf.put_bytes(_digest_bytes(t, to_json, packers))
        if buf.size >= _FLUSH:
            h.update(buf.take(0))
    h.update(buf.take(0))
    return h.hexdigest()


cdef bint _digest_fast(
    _Buffer buf, _Buffer numbers, _Rows rows, object t, object to_json
) except -1:
    """``_bulk_py.digest_bytes`` of a trial of the common shapes, written to ``buf``;
    False when the trial is not of them (the reference then writes it)."""
    cdef double v
    cdef long long step, number
    cdef int overflow = 0
    cdef Py_ssize_t i, n_values, n_params
    cdef char head[160]
    cdef int n_head
    params = t.params
    dists = t.distributions
    if type(params) is not dict or type(dists) is not dict:
        return False
    cdef list names = sorted(params)
    n_params = len(names)
    cdef list jsons = []
    cdef dict memo = to_json.last
    numbers.size = 0
    for name in names:
        dist = (<dict>dists)[name]
        value = (<dict>params)[name]
        if not _fast_internal(dist, value, &v):
            if not _number(dist.to_internal_repr(value), &v):
                return False
        numbers.put_f64(v)
        seen = memo.get(name)
        if seen is not None and _same_distribution((<tuple>seen)[0], dist):
            jsons.append((<tuple>seen)[1])
        else:
            jsons.append(to_json(name, dist))
    values = t.values
    if values is None:
        n_values = -1
    elif type(values) is list:
        n_values = len(<list>values)
        for item in <list>values:
            if type(item) is not float:
                return False
            numbers.put_f64(PyFloat_AS_DOUBLE(item))
    else:
        return False
    intermediate = t.intermediate_values
    if type(intermediate) is not dict:
        return False
    cdef list steps = sorted(intermediate)
    for s in steps:
        item = (<dict>intermediate)[s]
        if type(item) is not float:
            return False
        numbers.put_f64(PyFloat_AS_DOUBLE(item))
    for s in steps:
        if type(s) is not int:
            return False
        step = PyLong_AsLongLongAndOverflow(s, &overflow)
        if overflow:
            return False
        numbers.put_i64(step)
    # The row's JSON, as orjson writes [number, state, start, complete, names, jsons]:
    # the head here, the names and distributions from the last trial when they are its.
    trial_number = t.number
    if type(trial_number) is not int:
        return False
    number = PyLong_AsLongLongAndOverflow(trial_number, &overflow)
    if overflow:
        return False
    n_head = snprintf(head, 40, b"[%lld,%d,", number, <int>int(t.state))
    n_head = _put_iso(head, n_head, t.datetime_start)
    if n_head < 0:
        return False
    head[n_head] = b","
    n_head = _put_iso(head, n_head + 1, t.datetime_complete)
    if n_head < 0:
        return False
    head[n_head] = b","
    n_head += 1
    if rows.tail is None or names != rows.names or not _same_objects(jsons, rows.jsons):
        rows.tail = _dumps([names, jsons])[1:]
        rows.names, rows.jsons = names, jsons
    cdef bytes user = _attrs_text(t.user_attrs)
    cdef bytes system = _attrs_text(t.system_attrs)
    buf.put_i64(n_head + PyBytes_GET_SIZE(rows.tail) + PyBytes_GET_SIZE(user) + PyBytes_GET_SIZE(system))
    buf.put_i64(n_params)
    buf.put_i64(n_values)
    buf.put_i64(len(steps))
    buf.put(numbers.data, numbers.size)
    buf.put(head, n_head)
    buf.put_bytes(rows.tail)
    buf.put_bytes(user)
    buf.put_bytes(system)
    return True


cdef bint _same_objects(list a, list b):
    cdef Py_ssize_t i
    if len(a) != len(b):
        return False
    for i in range(len(a)):
        if a[i] is not b[i]:
            return False
    return True


cdef int _put_iso(char* out, int at, object value) except -2:
    """``json.dumps(value.isoformat())`` of a naive datetime, or ``null``, written at
    ``out + at`` (room for 40 bytes); the end, or -1 for another value."""
    cdef int us
    if value is None:
        memcpy(out + at, b"null", 4)
        return at + 4
    if not PyDateTime_CheckExact(value) or datetime_tzinfo(value) is not None:
        return -1
    us = datetime_microsecond(value)
    if us:
        return at + snprintf(
            out + at, 40, b"\"%04d-%02d-%02dT%02d:%02d:%02d.%06d\"",
            datetime_year(value), datetime_month(value), datetime_day(value),
            datetime_hour(value), datetime_minute(value), datetime_second(value), us,
        )
    return at + snprintf(
        out + at, 40, b"\"%04d-%02d-%02dT%02d:%02d:%02d\"",
        datetime_year(value), datetime_month(value), datetime_day(value),
        datetime_hour(value), datetime_minute(value), datetime_second(value),
    )


cdef bytes _attrs_text(object attrs):
    """``_bulk_py.attrs_json``."""
    cdef bytes text
    try:
        text = _dumps(attrs, option=_DIGEST_ATTR_OPTIONS)
    except TypeError:
        return _attrs_json(attrs)
    if _has_null(text):
        return _attrs_json(attrs)
    return b"\x00" + text
