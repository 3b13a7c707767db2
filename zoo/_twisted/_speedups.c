/*
 * zoo._twisted._speedups: the hottest loops of zoo's connection layer, in C.
 *
 * What each function does is what its Python twin does, step for step; the Python
 * twins stay the reference and the fallback (zoo._twisted.poll._dispatch with the
 * read steps of zoo.policies' wrappers and their WrapperActivity,
 * zoo._twisted.fastwrite's write closure, zoo.events.Recorder's record_pair closure
 * and SequenceState, the stores' bounded deque (Ring), zoo.sessions' SessionCounts and plain_chunks' closure,
 * zoo.blocks.WholeBlocks, zoo.echo.EchoStep, zoo.lancelot's SessionState and QuickAnswer,
 * zoo.transcript.has_auth and Resp._whole, and zoo-pubsub's scan_publishes
 * and publish_run in zoo.pubsub.codec and core).
 * Profiles of zoo-lancelot and zoo-blocks under load showed the server's own Python code at about a fifth of its CPU, and a
 * half of that in these two loops and in the socket module around recv() and send().
 * Here they cost no Python frame, and recv()/send() are called on the descriptor.
 *
 * Twisted attributes read here (all listed in zoo/_twisted/__init__.py):
 *   dispatch: the selectable's bufferSize and protocol (tcp.Connection), its doRead;
 *   Writer:   tcp.Connection's connected, disconnecting, TLS, _tempDataBuffer,
 *             offset, dataBuffer and _writeDisconnected.
 *
 * Built with the limited API of CPython 3.11 (one abi3 wheel serves 3.11 and later).
 * The GIL is kept across recv() and send(): the sockets are non-blocking, and the
 * one read buffer is shared by every call.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define READ_SIZE (1 << 18) /* 256 KiB: zoo.flow.GatedStream's stream_read_size */

static char read_buffer[READ_SIZE];

static PyObject *s_bufferSize, *s_protocol, *s_dataReceived, *s_doRead;
static PyObject *s_connected, *s_disconnecting, *s_TLS, *s_tempDataBuffer;
static PyObject *s_offset, *s_dataBuffer, *s_writeDisconnected;
static PyObject *s_activity, *s_bytes_out;
static PyObject *one, *zero;
static PyObject *s_command_sweeps, *s_wrappedProtocol, *s_watch, *s_bytes_in, *s_record_in;
static PyObject *s_step;

/* The wrapper classes whose dataReceived is done in place (zoo.policies'
 * ZooProtocolWrapper, its observed _Watched, and their half-closing subclasses),
 * each with that method as it was when relay() named it, and whether it is the
 * observed kind (which counts the bytes on its session first); and the protocol
 * classes whose read step is tried first (step(): watched is STEPPED). */
#define STEPPED 2
#define RELAY_MAX 16
static struct {
    PyObject *type;
    PyObject *method;
    int watched;
} relays[RELAY_MAX];
static int relay_count;

/* The exception being raised, as one value with its traceback (or NULL). */
static PyObject *
take_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    if (value == NULL) {
        Py_INCREF(Py_None);
        value = Py_None;
    }
    return value;
}

/* Report the exception being raised through report(exc); returns a new reference to
 * the exception (the reason the connection ends), or NULL if report itself failed. */
static PyObject *
report_exception(PyObject *report)
{
    PyObject *exc = take_exception();
    PyObject *res;
    if (exc == NULL)
        return NULL;
    res = PyObject_CallFunctionObjArgs(report, exc, NULL);
    if (res == NULL) {
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(res);
    return exc;
}

static int add_to(PyObject *obj, PyObject *name, PyObject *amount);

/* ---- ConnState: Twisted's read and write state of a connection, as C fields ----- */

/* The base of zoo._twisted.connection.Server (a tcp.Server): the nine attributes of
 * Twisted's tcp.Connection that dispatch reads before a read and the Writer checks
 * before every send, kept as C fields under their own names. Twisted's Python code
 * reads and sets them as before (a member descriptor, as a __slots__ name); C reads
 * them with no attribute lookup. NULL reads as None. */
typedef struct {
    PyObject_HEAD
    PyObject *connected;
    PyObject *disconnecting;
    PyObject *TLS;
    PyObject *tempDataBuffer;
    PyObject *dataBuffer;
    PyObject *offset;
    PyObject *writeDisconnected;
    PyObject *bufferSize;
    PyObject *protocol;
} ConnStateObject;

static PyTypeObject *connstate_type;

static int
ConnState_traverse(ConnStateObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->connected);
    Py_VISIT(self->disconnecting);
    Py_VISIT(self->TLS);
    Py_VISIT(self->tempDataBuffer);
    Py_VISIT(self->dataBuffer);
    Py_VISIT(self->offset);
    Py_VISIT(self->writeDisconnected);
    Py_VISIT(self->bufferSize);
    Py_VISIT(self->protocol);
    return 0;
}

static int
ConnState_clear(ConnStateObject *self)
{
    Py_CLEAR(self->connected);
    Py_CLEAR(self->disconnecting);
    Py_CLEAR(self->TLS);
    Py_CLEAR(self->tempDataBuffer);
    Py_CLEAR(self->dataBuffer);
    Py_CLEAR(self->offset);
    Py_CLEAR(self->writeDisconnected);
    Py_CLEAR(self->bufferSize);
    Py_CLEAR(self->protocol);
    return 0;
}

static void
ConnState_dealloc(ConnStateObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    ConnState_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
ConnState_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    /* The subclass's arguments go to its __init__, which sets Twisted's defaults. */
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    return alloc(type, 0);
}

static PyMemberDef ConnState_members[] = {
    {"connected", T_OBJECT, offsetof(ConnStateObject, connected), 0, NULL},
    {"disconnecting", T_OBJECT, offsetof(ConnStateObject, disconnecting), 0, NULL},
    {"TLS", T_OBJECT, offsetof(ConnStateObject, TLS), 0, NULL},
    {"_tempDataBuffer", T_OBJECT, offsetof(ConnStateObject, tempDataBuffer), 0, NULL},
    {"dataBuffer", T_OBJECT, offsetof(ConnStateObject, dataBuffer), 0, NULL},
    {"offset", T_OBJECT, offsetof(ConnStateObject, offset), 0, NULL},
    {"_writeDisconnected", T_OBJECT, offsetof(ConnStateObject, writeDisconnected), 0, NULL},
    {"bufferSize", T_OBJECT, offsetof(ConnStateObject, bufferSize), 0, NULL},
    {"protocol", T_OBJECT, offsetof(ConnStateObject, protocol), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot ConnState_slots[] = {
    {Py_tp_doc, "ConnState(): nine attributes of Twisted's tcp.Connection as C fields (the\n"
                "base of zoo._twisted.connection.Server): connected, disconnecting, TLS,\n"
                "_tempDataBuffer, dataBuffer, offset, _writeDisconnected, bufferSize,\n"
                "protocol."},
    {Py_tp_new, ConnState_new},
    {Py_tp_dealloc, ConnState_dealloc},
    {Py_tp_traverse, ConnState_traverse},
    {Py_tp_clear, ConnState_clear},
    {Py_tp_members, ConnState_members},
    {0, NULL},
};

static PyType_Spec ConnState_spec = {
    "zoo._twisted._speedups.ConnState",
    sizeof(ConnStateObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    ConnState_slots,
};

/* 1 if v is true, 0 if false or NULL (None), -1 on error. */
static int
field_true(PyObject *v)
{
    /* Twisted keeps 0 and 1 (CPython's shared small ints), booleans and a list */
    if (v == NULL || v == Py_None || v == Py_False || v == zero)
        return 0;
    if (v == Py_True || v == one)
        return 1;
    if (PyList_CheckExact(v))
        return PyList_Size(v) != 0;
    return PyObject_IsTrue(v);
}

/* ---- Activity: a policy wrapper's activity count and command clock ------------- */

/* The base of zoo.policies.ZooProtocolWrapper: activity (reads and writes, for the
 * idle sweep) and command_sweeps (the command clock: None, a count, or -1 when off)
 * as C fields, so that the read relay and the Writer count a read or a write and
 * start the clock without an attribute lookup or an int object; and the wrapped
 * protocol and the observed session (watch), which the read relay hands the read to
 * and counts it on, without a lookup through the wrapper's instance dict and
 * Twisted's ProtocolWrapper.__getattr__ (Python: the same four names as __slots__
 * of zoo.policies.WrapperActivity). */
typedef struct {
    PyObject_HEAD
    Py_ssize_t activity;
    PyObject *command_sweeps; /* NULL reads as None */
    PyObject *wrapped;        /* wrappedProtocol; NULL: not set yet */
    PyObject *watch;          /* NULL reads as None */
} ActivityObject;

static PyTypeObject *activity_type;
static PyObject *sweeps_off; /* -1: zoo.policies._OFF, a new wrapper's clock */

static int
Activity_traverse(ActivityObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->command_sweeps);
    Py_VISIT(self->wrapped);
    Py_VISIT(self->watch);
    return 0;
}

static int
Activity_clear(ActivityObject *self)
{
    Py_CLEAR(self->command_sweeps);
    Py_CLEAR(self->wrapped);
    Py_CLEAR(self->watch);
    return 0;
}

static void
Activity_dealloc(ActivityObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    Activity_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Activity_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    /* A subclass's own arguments go to its __init__; no activity yet, clock off. */
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    ActivityObject *self = (ActivityObject *)alloc(type, 0);
    if (self != NULL) {
        Py_INCREF(sweeps_off);
        self->command_sweeps = sweeps_off;
    }
    return (PyObject *)self;
}

static PyMemberDef Activity_members[] = {
    {"activity", T_PYSSIZET, offsetof(ActivityObject, activity), 0,
     "reads and writes so far (the idle sweep compares it)"},
    {"command_sweeps", T_OBJECT, offsetof(ActivityObject, command_sweeps), 0,
     "the command clock: None, sweeps since a command began, or -1 when off"},
    {"wrappedProtocol", T_OBJECT_EX, offsetof(ActivityObject, wrapped), 0,
     "the protocol this wrapper wraps (Twisted's ProtocolWrapper sets it)"},
    {"watch", T_OBJECT, offsetof(ActivityObject, watch), 0,
     "the observed session (zoo.sessions.Session), or None"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Activity_slots[] = {
    {Py_tp_doc, "Activity(): a policy wrapper's activity, command_sweeps, wrappedProtocol\n"
                "and watch, in C\n"
                "(the base of zoo.policies.ZooProtocolWrapper; zoo.policies.WrapperActivity\n"
                "in Python)."},
    {Py_tp_new, Activity_new},
    {Py_tp_dealloc, Activity_dealloc},
    {Py_tp_traverse, Activity_traverse},
    {Py_tp_clear, Activity_clear},
    {Py_tp_members, Activity_members},
    {0, NULL},
};

static PyType_Spec Activity_spec = {
    "zoo._twisted._speedups.Activity",
    sizeof(ActivityObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    Activity_slots,
};

/* activity += 1 on a wrapper: its C field, or obj.activity += 1. */
static int
count_activity(PyObject *wrapper)
{
    if (PyObject_TypeCheck(wrapper, activity_type)) {
        ((ActivityObject *)wrapper)->activity += 1;
        return 0;
    }
    return add_to(wrapper, s_activity, one);
}

/* zoo.policies.command_done(transport): a command is complete, the clock stops. A
 * zoo wrapper's clock is its C field, set in place; any other transport goes to
 * done (command_done itself); None or NULL, nothing. 0, or -1 on error. */
static int
command_done(PyObject *transport, PyObject *done)
{
    PyObject *res;
    if (transport == NULL || transport == Py_None)
        return 0;
    if (PyObject_TypeCheck(transport, activity_type)) {
        ActivityObject *a = (ActivityObject *)transport;
        PyObject *old = a->command_sweeps;
        Py_INCREF(Py_None);
        a->command_sweeps = Py_None;
        Py_XDECREF(old);
        return 0;
    }
    res = PyObject_CallFunctionObjArgs(done, transport, NULL);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* ---- Counts: a session's byte counts and transcript sides ---------------------- */

/* The base of zoo.sessions.Session: bytes_in, bytes_out, record_in, record_out as
 * C fields, so that the read relay and the Writer count a session's bytes and find
 * its transcript without an attribute lookup or an int object (Python: the same
 * four names as __slots__ of zoo.sessions.SessionCounts). */
typedef struct {
    PyObject_HEAD
    Py_ssize_t bytes_in;
    Py_ssize_t bytes_out;
    PyObject *record_in;  /* NULL reads as None */
    PyObject *record_out;
} CountsObject;

static PyTypeObject *counts_type;

static int
Counts_traverse(CountsObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->record_in);
    Py_VISIT(self->record_out);
    return 0;
}

static int
Counts_clear(CountsObject *self)
{
    Py_CLEAR(self->record_in);
    Py_CLEAR(self->record_out);
    return 0;
}

static void
Counts_dealloc(CountsObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    Counts_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Counts_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    /* A subclass's own arguments go to its __init__; the counts start at zero. */
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    CountsObject *self = (CountsObject *)alloc(type, 0);
    return (PyObject *)self;
}

static PyMemberDef Counts_members[] = {
    {"bytes_in", T_PYSSIZET, offsetof(CountsObject, bytes_in), 0, "bytes the client sent"},
    {"bytes_out", T_PYSSIZET, offsetof(CountsObject, bytes_out), 0, "bytes sent to it"},
    {"record_in", T_OBJECT, offsetof(CountsObject, record_in), 0,
     "records what the client sent (a transcript), or None"},
    {"record_out", T_OBJECT, offsetof(CountsObject, record_out), 0,
     "records what was sent to it, or None"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Counts_slots[] = {
    {Py_tp_doc, "Counts(): a session's bytes_in, bytes_out, record_in and record_out, in C\n"
                "(the base of zoo.sessions.Session; zoo.sessions.SessionCounts in Python)."},
    {Py_tp_new, Counts_new},
    {Py_tp_dealloc, Counts_dealloc},
    {Py_tp_traverse, Counts_traverse},
    {Py_tp_clear, Counts_clear},
    {Py_tp_members, Counts_members},
    {0, NULL},
};

static PyType_Spec Counts_spec = {
    "zoo._twisted._speedups.Counts",
    sizeof(CountsObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    Counts_slots,
};

/* The index of tp in relays if its dataReceived is still the one relay() saw, -1 if
 * it is not relayed, -2 on error. */
static int
relayed(PyObject *tp)
{
    PyObject *now;
    int i;
    for (i = 0; i < relay_count && relays[i].type != tp; i++)
        ;
    if (i == relay_count)
        return -1;
    now = PyObject_GetAttr(tp, s_dataReceived);
    if (now == NULL)
        return -2;
    Py_DECREF(now);
    return now == relays[i].method ? i : -1;
}

/* ZooProtocolWrapper.dataReceived up to its last line, in place: count the read,
 * start the command clock, and put the wrapped protocol in *protocol. For the
 * observed kind (_Watched.dataReceived), first count the bytes on the session
 * (watch.bytes_in) and hand them to its transcript (watch.record_in), if any. */
static int
relay_in_place(PyObject **protocol, int watched, PyObject *data, Py_ssize_t size)
{
    PyObject *wrapper = *protocol, *sweeps, *inner;
    if (watched) {
        PyObject *watch, *n, *record;
        int rc;
        if (PyObject_TypeCheck(wrapper, activity_type)) { /* its C field */
            watch = ((ActivityObject *)wrapper)->watch;
            if (watch == NULL)
                watch = Py_None;
            Py_INCREF(watch);
        } else if ((watch = PyObject_GetAttr(wrapper, s_watch)) == NULL)
            return -1;
        if (PyObject_TypeCheck(watch, counts_type)) { /* a Session: its C fields */
            CountsObject *counts = (CountsObject *)watch;
            counts->bytes_in += size;
            record = counts->record_in != NULL ? counts->record_in : Py_None;
            Py_INCREF(record);
        } else {
            n = PyLong_FromSsize_t(size);
            rc = n == NULL ? -1 : add_to(watch, s_bytes_in, n);
            Py_XDECREF(n);
            record = rc < 0 ? NULL : PyObject_GetAttr(watch, s_record_in);
        }
        Py_DECREF(watch);
        if (record == NULL)
            return -1;
        if (record != Py_None) {
            PyObject *res = PyObject_CallFunctionObjArgs(record, data, NULL);
            if (res == NULL) {
                Py_DECREF(record);
                return -1;
            }
            Py_DECREF(res);
        }
        Py_DECREF(record);
    }
    if (PyObject_TypeCheck(wrapper, activity_type)) { /* a zoo wrapper: its C fields */
        ActivityObject *a = (ActivityObject *)wrapper;
        a->activity += 1;
        if (a->command_sweeps == NULL || a->command_sweeps == Py_None) {
            PyObject *old = a->command_sweeps;
            Py_INCREF(zero);
            a->command_sweeps = zero;
            Py_XDECREF(old);
        }
    } else {
        if (add_to(wrapper, s_activity, one) < 0)
            return -1;
        sweeps = PyObject_GetAttr(wrapper, s_command_sweeps);
        if (sweeps == NULL)
            return -1;
        Py_DECREF(sweeps);
        if (sweeps == Py_None && PyObject_SetAttr(wrapper, s_command_sweeps, zero) < 0)
            return -1;
    }
    if (PyObject_TypeCheck(wrapper, activity_type)
        && ((ActivityObject *)wrapper)->wrapped != NULL) { /* its C field */
        inner = ((ActivityObject *)wrapper)->wrapped;
        Py_INCREF(inner);
    } else if ((inner = PyObject_GetAttr(wrapper, s_wrappedProtocol)) == NULL)
        return -1;
    *protocol = inner;
    Py_DECREF(wrapper);
    return 0;
}

PyDoc_STRVAR(relay_doc,
"relay(method, watched, *classes)\n"
"\n"
"Do method in place when dispatch reads for an instance of exactly one of classes\n"
"whose dataReceived is still that method: zoo.policies.ZooProtocolWrapper's\n"
"(activity += 1; command_sweeps = 0 if it is None; wrappedProtocol.dataReceived),\n"
"and with watched true _Watched's (watch.bytes_in += len(data), then\n"
"watch.record_in(data) unless it is None, then the same). At most 16 classes in\n"
"all; relay(None, False) forgets them all.");

static PyObject *
relay(PyObject *module, PyObject *args)
{
    Py_ssize_t n = PyTuple_Size(args), i;
    PyObject *method;
    int watched;
    if (n < 2) {
        PyErr_SetString(PyExc_TypeError, "relay(method, watched, *classes)");
        return NULL;
    }
    method = PyTuple_GetItem(args, 0);
    watched = PyObject_IsTrue(PyTuple_GetItem(args, 1));
    if (watched < 0)
        return NULL;
    if (method == Py_None) {
        for (i = 0; i < relay_count; i++) {
            Py_CLEAR(relays[i].type);
            Py_CLEAR(relays[i].method);
        }
        relay_count = 0;
        Py_RETURN_NONE;
    }
    if (relay_count + n - 2 > RELAY_MAX) {
        PyErr_SetString(PyExc_ValueError, "relay(): at most 16 classes");
        return NULL;
    }
    for (i = 2; i < n; i++) {
        if (!PyType_Check(PyTuple_GetItem(args, i))) {
            PyErr_SetString(PyExc_TypeError, "relay(): not a class");
            return NULL;
        }
    }
    for (i = 2; i < n; i++) {
        relays[relay_count].type = PyTuple_GetItem(args, i);
        Py_INCREF(relays[relay_count].type);
        relays[relay_count].method = method;
        Py_INCREF(method);
        relays[relay_count].watched = watched;
        relay_count++;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(step_doc,
"step(method, *classes)\n"
"\n"
"When dispatch reads for an instance of exactly one of classes whose dataReceived is\n"
"still method, first run the C read step the instance keeps as _step (a\n"
"WholeBlocks' echo, a QuickAnswer's ask, an EchoStep's echo): when it takes the\n"
"read, dataReceived is not called; when it declines (or _step is None), it is.\n"
"Counts against relay()'s 16 classes; relay(None, False) forgets these too.");

static PyObject *
step(PyObject *module, PyObject *args)
{
    Py_ssize_t n = PyTuple_Size(args), i;
    if (n < 1) {
        PyErr_SetString(PyExc_TypeError, "step(method, *classes)");
        return NULL;
    }
    if (relay_count + n - 1 > RELAY_MAX) {
        PyErr_SetString(PyExc_ValueError, "step(): at most 16 classes with relay()'s");
        return NULL;
    }
    for (i = 1; i < n; i++) {
        if (!PyType_Check(PyTuple_GetItem(args, i))) {
            PyErr_SetString(PyExc_TypeError, "step(): not a class");
            return NULL;
        }
    }
    for (i = 1; i < n; i++) {
        relays[relay_count].type = PyTuple_GetItem(args, i);
        Py_INCREF(relays[relay_count].type);
        relays[relay_count].method = PyTuple_GetItem(args, 0);
        Py_INCREF(relays[relay_count].method);
        relays[relay_count].watched = STEPPED;
        relay_count++;
    }
    Py_RETURN_NONE;
}

static PyObject *WholeBlocks_echo(PyObject *self, PyObject *data);
static PyObject *QuickAnswer_ask(PyObject *self, PyObject *data);
static PyObject *EchoStep_echo(PyObject *self, PyObject *data);
static PyTypeObject *wholeblocks_type, *quickanswer_type, *echostep_type;

/* protocol._step's C read step on data: 1 if it took the read, 0 if it declined (or
 * there is none, or it is not one of ours), -1 on error. */
static int
run_step(PyObject *protocol, PyObject *data)
{
    PyObject *st = PyObject_GetAttr(protocol, s_step), *res;
    PyTypeObject *tp;
    if (st == NULL)
        return -1;
    tp = Py_TYPE(st);
    if (tp == wholeblocks_type)
        res = WholeBlocks_echo(st, data);
    else if (tp == quickanswer_type)
        res = QuickAnswer_ask(st, data);
    else if (tp == echostep_type)
        res = EchoStep_echo(st, data);
    else {
        Py_DECREF(st);
        return 0;
    }
    Py_DECREF(st);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return res == Py_True;
}

/* recv() on an accepted connection, then its protocol's dataReceived: what
 * tcp.Connection.doRead and _dataReceived do. Returns the reason the connection
 * ended (new reference, Py_None while it goes on), or NULL with an exception set. */
static PyObject *
read_in_place(PyObject *selectable, int fd, PyObject *done, PyObject *lost)
{
    PyObject *size_obj, *data, *protocol, *res;
    Py_ssize_t want, got;

    if (PyObject_TypeCheck(selectable, connstate_type)
        && ((ConnStateObject *)selectable)->bufferSize != NULL) {
        want = PyLong_AsSsize_t(((ConnStateObject *)selectable)->bufferSize);
    } else {
        size_obj = PyObject_GetAttr(selectable, s_bufferSize);
        if (size_obj == NULL)
            return NULL;
        want = PyLong_AsSsize_t(size_obj);
        Py_DECREF(size_obj);
    }
    if (want == -1 && PyErr_Occurred())
        return NULL;
    if (want > READ_SIZE || want <= 0)
        want = READ_SIZE; /* recv() may always return less than asked */
    for (;;) {
        got = recv(fd, read_buffer, (size_t)want, 0);
        if (got >= 0 || errno != EINTR)
            break;
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            Py_INCREF(Py_None);
            return Py_None;
        }
        Py_INCREF(lost);
        return lost;
    }
    if (got == 0) {
        Py_INCREF(done);
        return done;
    }
    data = PyBytes_FromStringAndSize(read_buffer, got);
    if (data == NULL)
        return NULL;
    if (PyObject_TypeCheck(selectable, connstate_type)
        && ((ConnStateObject *)selectable)->protocol != NULL) {
        protocol = ((ConnStateObject *)selectable)->protocol;
        Py_INCREF(protocol);
    } else
        protocol = PyObject_GetAttr(selectable, s_protocol);
    if (protocol == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    if (relay_count) {
        int at = relayed((PyObject *)Py_TYPE(protocol)), took = 0;
        if (at >= 0 && relays[at].watched != STEPPED) {
            if (relay_in_place(&protocol, relays[at].watched, data, got) < 0)
                at = -2;
            else
                at = relayed((PyObject *)Py_TYPE(protocol)); /* the wrapped protocol */
        }
        if (at >= 0 && relays[at].watched == STEPPED && (took = run_step(protocol, data)) < 0)
            at = -2;
        if (at == -2 || took) {
            Py_DECREF(protocol);
            Py_DECREF(data);
            if (at == -2)
                return NULL;
            Py_INCREF(Py_None);
            return Py_None;
        }
    }
    res = PyObject_CallMethodObjArgs(protocol, s_dataReceived, data, NULL);
    Py_DECREF(protocol);
    Py_DECREF(data);
    if (res == NULL)
        return NULL;
    Py_DECREF(res); /* what dataReceived returns is ignored */
    Py_INCREF(Py_None);
    return Py_None;
}

/* Whether tp is inline_type, or one of the types of a tuple inline_type. */
static int
is_inline(PyObject *tp, PyObject *inline_type)
{
    Py_ssize_t i, n;
    if (tp == inline_type)
        return 1;
    if (!PyTuple_Check(inline_type))
        return 0;
    n = PyTuple_Size(inline_type);
    for (i = 0; i < n; i++)
        if (PyTuple_GetItem(inline_type, i) == tp)
            return 1;
    return 0;
}

PyDoc_STRVAR(dispatch_doc,
"dispatch(events, selectables, inline, handle, disconnect, done, lost,\n"
"         read_failed, poll_failed)\n"
"\n"
"Run the handlers of one epoll turn: zoo._twisted.poll._dispatch, in C.");

static PyObject *
dispatch(PyObject *module, PyObject *args)
{
    PyObject *events, *selectables, *inline_type, *handle, *disconnect;
    PyObject *done, *lost, *read_failed, *poll_failed;
    Py_ssize_t i, n;

    if (!PyArg_ParseTuple(args, "OOOOOOOOO", &events, &selectables, &inline_type, &handle,
                          &disconnect, &done, &lost, &read_failed, &poll_failed))
        return NULL;
    if (!PyList_Check(events) || !PyDict_Check(selectables)) {
        PyErr_SetString(PyExc_TypeError, "dispatch(): events must be a list, selectables a dict");
        return NULL;
    }
    n = PyList_Size(events);
    for (i = 0; i < n; i++) {
        PyObject *pair = PyList_GetItem(events, i); /* borrowed */
        PyObject *fd_obj, *ev_obj, *selectable, *why, *res;
        long fd, event;

        if (pair == NULL || !PyTuple_Check(pair) || PyTuple_Size(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "dispatch(): an event is not (fd, mask)");
            return NULL;
        }
        fd_obj = PyTuple_GetItem(pair, 0);
        ev_obj = PyTuple_GetItem(pair, 1);
        selectable = PyDict_GetItemWithError(selectables, fd_obj);
        if (selectable == NULL) {
            if (PyErr_Occurred())
                return NULL;
            continue; /* gone since the poll */
        }
        Py_INCREF(selectable); /* a handler may drop it from the dict */
        event = PyLong_AsLong(ev_obj);
        fd = PyLong_AsLong(fd_obj);
        if ((event == -1 || fd == -1) && PyErr_Occurred()) {
            Py_DECREF(selectable);
            return NULL;
        }
        if (event == EPOLLIN) {
            if (is_inline((PyObject *)Py_TYPE(selectable), inline_type))
                why = read_in_place(selectable, (int)fd, done, lost);
            else
                why = PyObject_CallMethodObjArgs(selectable, s_doRead, NULL);
            if (why == NULL) {
                why = report_exception(read_failed);
                if (why == NULL) {
                    Py_DECREF(selectable);
                    return NULL;
                }
            }
            if (why != Py_None) {
                int truth = PyObject_IsTrue(why);
                if (truth < 0) {
                    Py_DECREF(why);
                    Py_DECREF(selectable);
                    return NULL;
                }
                if (truth) {
                    res = PyObject_CallFunctionObjArgs(disconnect, selectable, why, Py_True,
                                                       NULL);
                    if (res == NULL) {
                        Py_DECREF(why);
                        Py_DECREF(selectable);
                        return NULL;
                    }
                    Py_DECREF(res);
                }
            }
            Py_DECREF(why);
        }
        else {
            res = PyObject_CallFunctionObjArgs(handle, selectable, fd_obj, ev_obj, NULL);
            if (res == NULL) {
                res = report_exception(poll_failed);
                if (res == NULL) {
                    Py_DECREF(selectable);
                    return NULL;
                }
            }
            Py_DECREF(res);
        }
        Py_DECREF(selectable);
        /* The list is the poller's own: nothing changes it, but stay safe. */
        if (PyList_Size(events) < n)
            n = PyList_Size(events);
    }
    Py_RETURN_NONE;
}

/* ---- Writer ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *conn;    /* the tcp.Connection */
    int fd;            /* its socket's descriptor */
    PyObject *counter; /* its activity goes up by one per write, or NULL */
    PyObject *slow;    /* what sends when the socket cannot take it now */
    PyObject *tally;   /* its bytes_out goes up by each write's size, or NULL */
    PyObject *record;  /* called with each write's bytes (a transcript), or NULL */
} WriterObject;

static int
Writer_traverse(WriterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->conn);
    Py_VISIT(self->counter);
    Py_VISIT(self->slow);
    Py_VISIT(self->tally);
    Py_VISIT(self->record);
    return 0;
}

static int
Writer_clear(WriterObject *self)
{
    Py_CLEAR(self->conn);
    Py_CLEAR(self->counter);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->tally);
    Py_CLEAR(self->record);
    return 0;
}

static void
Writer_dealloc(WriterObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    Writer_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Writer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"conn", "fd", "counter", "slow", "tally", "record", NULL};
    PyObject *conn, *counter = Py_None, *slow, *tally = Py_None, *record = Py_None;
    int fd;
    WriterObject *self;
    allocfunc alloc;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OiOO|OO", kwlist, &conn, &fd, &counter, &slow,
                                     &tally, &record))
        return NULL;
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (WriterObject *)alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(conn);
    self->conn = conn;
    self->fd = fd;
    if (counter != Py_None) {
        Py_INCREF(counter);
        self->counter = counter;
    }
    Py_INCREF(slow);
    self->slow = slow;
    if (tally != Py_None) {
        Py_INCREF(tally);
        self->tally = tally;
    }
    if (record != Py_None) {
        Py_INCREF(record);
        self->record = record;
    }
    return (PyObject *)self;
}

/* obj.name += amount */
static int
add_to(PyObject *obj, PyObject *name, PyObject *amount)
{
    PyObject *old = PyObject_GetAttr(obj, name), *new;
    int rc;
    if (old == NULL)
        return -1;
    new = PyNumber_Add(old, amount);
    Py_DECREF(old);
    if (new == NULL)
        return -1;
    rc = PyObject_SetAttr(obj, name, new);
    Py_DECREF(new);
    return rc;
}

/* 1 if obj.name is true, 0 if false, -1 on error. */
static int
attr_true(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    int truth;
    if (v == NULL)
        return -1;
    truth = PyObject_IsTrue(v);
    Py_DECREF(v);
    return truth;
}

/* 1 if nothing is queued or in the way and send() may be called now, 0 if not. */
static int
can_send_now(PyObject *conn)
{
    PyObject *offset, *buffer;
    Py_ssize_t queued;
    int t, same;

    if (PyObject_TypeCheck(conn, connstate_type)) { /* the same checks, on C fields */
        ConnStateObject *c = (ConnStateObject *)conn;
        Py_ssize_t at;
        if ((t = field_true(c->connected)) <= 0)
            return t;
        if ((t = field_true(c->disconnecting)) != 0 || (t = field_true(c->TLS)) != 0
            || (t = field_true(c->tempDataBuffer)) != 0)
            return t < 0 ? t : 0;
        if (c->dataBuffer == NULL || c->offset == NULL || !PyLong_Check(c->offset))
            return 0; /* not as Twisted leaves them: let Twisted write */
        queued = PyBytes_Check(c->dataBuffer) ? PyBytes_Size(c->dataBuffer)
                                              : PyObject_Size(c->dataBuffer);
        if (queued < 0)
            return -1;
        at = PyLong_AsSsize_t(c->offset);
        if (at == -1 && PyErr_Occurred())
            return -1;
        if (at != queued)
            return 0;
        if ((t = field_true(c->writeDisconnected)) != 0)
            return t < 0 ? t : 0;
        return 1;
    }
    if ((t = attr_true(conn, s_connected)) <= 0)
        return t;
    if ((t = attr_true(conn, s_disconnecting)) != 0)
        return t < 0 ? t : 0;
    if ((t = attr_true(conn, s_TLS)) != 0)
        return t < 0 ? t : 0;
    if ((t = attr_true(conn, s_tempDataBuffer)) != 0)
        return t < 0 ? t : 0;
    buffer = PyObject_GetAttr(conn, s_dataBuffer);
    if (buffer == NULL)
        return -1;
    queued = PyObject_Size(buffer);
    Py_DECREF(buffer);
    if (queued < 0)
        return -1;
    offset = PyObject_GetAttr(conn, s_offset);
    if (offset == NULL)
        return -1;
    {
        PyObject *q = PyLong_FromSsize_t(queued);
        if (q == NULL) {
            Py_DECREF(offset);
            return -1;
        }
        same = PyObject_RichCompareBool(offset, q, Py_EQ);
        Py_DECREF(q);
    }
    Py_DECREF(offset);
    if (same <= 0)
        return same;
    if ((t = attr_true(conn, s_writeDisconnected)) != 0)
        return t < 0 ? t : 0;
    return 1;
}

static PyObject *
call_slow(WriterObject *self, PyObject *data)
{
    PyObject *res = PyObject_CallFunctionObjArgs(self->slow, data, NULL);
    if (res == NULL)
        return NULL;
    Py_DECREF(res);
    Py_RETURN_NONE;
}

static PyObject *
Writer_call(WriterObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *data, *rest, *res;
    Py_buffer view;
    Py_ssize_t sent;
    int ok;

    if ((kwds != NULL && PyDict_Size(kwds) != 0) || PyTuple_Size(args) != 1) {
        PyErr_SetString(PyExc_TypeError, "write() takes exactly one argument (data)");
        return NULL;
    }
    data = PyTuple_GetItem(args, 0);
    if (self->counter != NULL && count_activity(self->counter) < 0)
        return NULL;
    if (self->tally != NULL) {
        Py_ssize_t size = PyObject_Size(data);
        PyObject *size_obj;
        if (size < 0)
            return NULL;
        if (PyObject_TypeCheck(self->tally, counts_type)) /* a Session: its C field */
            ((CountsObject *)self->tally)->bytes_out += size;
        else if ((size_obj = PyLong_FromSsize_t(size)) == NULL)
            return NULL;
        else {
            ok = add_to(self->tally, s_bytes_out, size_obj);
            Py_DECREF(size_obj);
            if (ok < 0)
                return NULL;
        }
    }
    if (self->record != NULL) {
        PyObject *res = PyObject_CallFunctionObjArgs(self->record, data, NULL);
        if (res == NULL)
            return NULL;
        Py_DECREF(res);
    }
    ok = can_send_now(self->conn);
    if (ok < 0)
        return NULL;
    if (!ok)
        return call_slow(self, data);
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    for (;;) {
        sent = send(self->fd, view.buf, (size_t)view.len, 0);
        if (sent >= 0 || errno != EINTR)
            break;
        if (PyErr_CheckSignals() < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
    }
    if (sent < 0) {
        /* EAGAIN: nothing went, all of it waits; another error: Twisted notices
         * and reports it in its usual way. */
        PyBuffer_Release(&view);
        return call_slow(self, data);
    }
    if (sent == view.len) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    rest = PyBytes_FromStringAndSize((const char *)view.buf + sent, view.len - sent);
    PyBuffer_Release(&view);
    if (rest == NULL)
        return NULL;
    res = call_slow(self, rest);
    Py_DECREF(rest);
    return res;
}

static PyType_Slot Writer_slots[] = {
    {Py_tp_doc, "Writer(conn, fd, counter, slow, tally=None, record=None): a fast write(data), "
                "in C.\n\n"
                "zoo._twisted.fastwrite.fast_writer's closure, step for step."},
    {Py_tp_new, Writer_new},
    {Py_tp_dealloc, Writer_dealloc},
    {Py_tp_traverse, Writer_traverse},
    {Py_tp_clear, Writer_clear},
    {Py_tp_call, Writer_call},
    {0, NULL},
};

static PyType_Spec Writer_spec = {
    "zoo._twisted._speedups.Writer",
    sizeof(WriterObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    Writer_slots,
};


/* ---- Pair: a recorder's record_pair ---------------------------------------- */

/* zoo.events.Recorder's record_pair closure, step for step, for the hot paths'
 * two-value events (a question and its answer, a transcript chunk and its size),
 * and the same for three values (values=3: a PUBLISH's channel, payload and
 * receivers), which the Python recorder records with its general record. It holds
 * the recorder's counters (left, pending, gone), which the Python closures that
 * share them (record, fold, forget) read and set as attributes. While
 * somebody is live (a stream, a wait-for), it calls the Python record_pair (or
 * record), which builds and delivers the event at once. */

#define ENTRY_OVERHEAD 320 /* zoo.events.EVENT_OVERHEAD */
#define OFFSETS 255        /* zoo.events._OFFSETS */

/* The observatory's event numbering and its live flag (zoo.events.SequenceState in
 * Python; Observatory.last_seq and .live read and set these), as C fields, so that
 * a Pair numbers an event without two attribute lookups, an int object and an
 * attribute store. */
typedef struct {
    PyObject_HEAD
    Py_ssize_t last; /* the last event's sequence number */
    char live;       /* somebody is subscribed or waiting: deliver each event at once */
} SequenceObject;

static PyTypeObject *sequence_type;

static void
Sequence_dealloc(SequenceObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Sequence_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    allocfunc alloc;
    if (PyTuple_Size(args) != 0 || (kwds != NULL && PyDict_Size(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Sequence() takes no arguments");
        return NULL;
    }
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    return alloc(type, 0); /* zeroed: last 0, not live */
}

static PyMemberDef Sequence_members[] = {
    {"last", T_PYSSIZET, offsetof(SequenceObject, last), 0, "the last event's number"},
    {"live", T_BOOL, offsetof(SequenceObject, live), 0,
     "events are delivered at once (a stream or a wait is on)"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Sequence_slots[] = {
    {Py_tp_doc, "Sequence(): an observatory's last event number and live flag, in C\n"
                "(zoo.events.SequenceState in Python)."},
    {Py_tp_new, Sequence_new},
    {Py_tp_dealloc, Sequence_dealloc},
    {Py_tp_members, Sequence_members},
    {0, NULL},
};

static PyType_Spec Sequence_spec = {
    "zoo._twisted._speedups.Sequence",
    sizeof(SequenceObject),
    0,
    Py_TPFLAGS_DEFAULT,
    Sequence_slots,
};

/* ---- Ring: an event store's entries ---------------------------------------------- */

/* zoo.events' store of entries, a deque(maxlen=cap) of tuples in Python, here a ring
 * of slots that keep each entry's items themselves (up to RING_WIDTH of them), so that
 * a recorder's event is no tuple to make and free and no call to deque.append: Pair
 * writes the items into the next slot, and a full ring drops its oldest entry there.
 * A tuple is made only when Python reads an entry. Entries longer than RING_WIDTH
 * (and the empty tuple) are kept whole. The Python side sees a deque's subset that
 * zoo.events uses: append, popleft, clear, len, [i] and [i] = entry (i < 0 too),
 * iteration both ways and maxlen. */

#define RING_WIDTH 8

typedef struct {
    Py_ssize_t n;             /* the entry's items in v (1..RING_WIDTH); 0: v[0] is it whole */
    PyObject *v[RING_WIDTH];  /* (or NULL: an empty slot) */
} RingSlot;

typedef struct {
    PyObject_HEAD
    Py_ssize_t cap;  /* maxlen: the most entries kept */
    Py_ssize_t room; /* slots allocated: doubled as entries come, up to cap */
    Py_ssize_t head; /* the oldest entry's slot */
    Py_ssize_t len;  /* entries kept */
    RingSlot *slots; /* room of them */
} RingObject;

#define RING_FIRST_ROOM 4

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((p), 1)
#else
#define PREFETCH(p) ((void)(p))
#endif

static PyTypeObject *ring_type;

/* Move a slot's references out (into out, RING_WIDTH long; returns how many) and
 * leave it empty: the caller drops them once the ring is consistent again. */
static Py_ssize_t
slot_take(RingSlot *s, PyObject **out)
{
    Py_ssize_t k = s->n ? s->n : 1;
    for (Py_ssize_t i = 0; i < k; i++) {
        out[i] = s->v[i];
        s->v[i] = NULL;
    }
    s->n = 0;
    return k;
}

static void
drop_all(PyObject **refs, Py_ssize_t k)
{
    for (Py_ssize_t i = 0; i < k; i++)
        Py_XDECREF(refs[i]);
}

/* Fill an empty slot with items (new references taken here). */
static void
slot_fill(RingSlot *s, PyObject *const *items, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_INCREF(items[i]);
        s->v[i] = items[i];
    }
    s->n = n;
}

/* Fill an empty slot with the entry, a tuple: its items, or itself if too long. */
static void
slot_fill_tuple(RingSlot *s, PyObject *entry)
{
    Py_ssize_t n = PyTuple_Size(entry);
    if (n >= 1 && n <= RING_WIDTH) {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = PyTuple_GetItem(entry, i);
            Py_INCREF(item);
            s->v[i] = item;
        }
        s->n = n;
    } else {
        Py_INCREF(entry);
        s->v[0] = entry;
        s->n = 0;
    }
}

/* The entry a slot holds, as a tuple (new reference). */
static PyObject *
slot_entry(RingSlot *s)
{
    PyObject *t;
    if (s->n == 0) {
        Py_INCREF(s->v[0]);
        return s->v[0];
    }
    t = PyTuple_New(s->n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < s->n; i++) {
        Py_INCREF(s->v[i]);
        PyTuple_SetItem(t, i, s->v[i]); /* steals it */
    }
    return t;
}

/* An entry's size (its item 4) as a C number: -1 with an exception if it has none. */
static Py_ssize_t
slot_size(RingSlot *s)
{
    PyObject *size = s->n ? (s->n > 4 ? s->v[4] : NULL) : PyTuple_GetItem(s->v[0], 4);
    if (size == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_IndexError, "tuple index out of range");
        return -1;
    }
    return PyLong_AsSsize_t(size);
}

static RingSlot *
ring_slot(RingObject *r, Py_ssize_t i) /* 0 <= i < len: the i-th oldest */
{
    Py_ssize_t at = r->head + i;
    return &r->slots[at >= r->room ? at - r->room : at];
}

/* Make room for more entries (len == room < cap): twice the slots, up to cap, the
 * entries moved to the start in order. -1 with MemoryError (then nothing changed). */
static int
ring_grow(RingObject *r)
{
    Py_ssize_t room = r->room * 2 < r->cap ? r->room * 2 : r->cap;
    RingSlot *slots = PyMem_Calloc((size_t)room, sizeof(RingSlot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < r->len; i++)
        slots[i] = *ring_slot(r, i); /* the references move with the slot */
    PyMem_Free(r->slots);
    r->slots = slots;
    r->room = room;
    r->head = 0;
    return 0;
}

/* Append items as one entry; a full ring first drops its oldest, whose size goes to
 * *dropped (if not NULL; 0 if none was dropped). -1 with an exception if the dropped
 * entry's size cannot be read or there is no memory for more slots (then nothing
 * changed). */
static int
ring_push(RingObject *r, PyObject *const *items, Py_ssize_t n, PyObject *whole,
          Py_ssize_t *dropped)
{
    PyObject *gone[RING_WIDTH];
    Py_ssize_t k = 0;
    if (dropped != NULL)
        *dropped = 0;
    if (r->len == r->room && r->room < r->cap && ring_grow(r) < 0)
        return -1;
    if (r->len == r->cap) {
        RingSlot *oldest = &r->slots[r->head];
        if (dropped != NULL && (*dropped = slot_size(oldest)) == -1 && PyErr_Occurred())
            return -1;
        k = slot_take(oldest, gone);
        r->head = r->head + 1 == r->room ? 0 : r->head + 1;
        r->len--;
    }
    if (whole != NULL)
        slot_fill_tuple(ring_slot(r, r->len), whole);
    else
        slot_fill(ring_slot(r, r->len), items, n);
    r->len++;
    if (r->len == r->cap && r->cap > 2) {
        /* Full: the next pushes drop the oldest entries, last touched cap pushes ago
         * and long gone from the caches. Ask for them ahead: the objects the next
         * drop will release (the slot, asked for by the push before, is here by now)
         * and the slot of the drop after it. */
        RingSlot *next = &r->slots[r->head], *after = ring_slot(r, 1);
        Py_ssize_t m = next->n ? next->n : 1;
        for (Py_ssize_t i = 0; i < m; i++)
            if (next->v[i] != NULL)
                PREFETCH(next->v[i]);
        PREFETCH(after);
        PREFETCH((char *)after + 64);
    }
    drop_all(gone, k); /* the ring is whole again: whatever this runs sees it so */
    return 0;
}

static int
Ring_traverse(RingObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    for (Py_ssize_t i = 0; i < self->len; i++) {
        RingSlot *s = ring_slot(self, i);
        Py_ssize_t k = s->n ? s->n : 1;
        for (Py_ssize_t j = 0; j < k; j++)
            Py_VISIT(s->v[j]);
    }
    return 0;
}

static int
Ring_clear(RingObject *self)
{
    while (self->len > 0) {
        PyObject *gone[RING_WIDTH];
        Py_ssize_t k = slot_take(&self->slots[self->head], gone);
        self->head = self->head + 1 == self->room ? 0 : self->head + 1;
        self->len--;
        drop_all(gone, k);
    }
    self->head = 0;
    return 0;
}

static void
Ring_dealloc(RingObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    Ring_clear(self);
    PyMem_Free(self->slots);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *Ring_append(RingObject *self, PyObject *entry);

static PyObject *
Ring_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"iterable", "maxlen", NULL};
    PyObject *iterable = Py_None, *it, *item;
    Py_ssize_t cap;
    RingObject *self;
    allocfunc alloc;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On", kwlist, &iterable, &cap))
        return NULL;
    if (cap <= 0 || cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(RingSlot)) {
        PyErr_SetString(PyExc_ValueError, "Ring(): maxlen must be positive");
        return NULL;
    }
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (RingObject *)alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->cap = cap;
    self->room = cap < RING_FIRST_ROOM ? cap : RING_FIRST_ROOM;
    self->slots = PyMem_Calloc((size_t)self->room, sizeof(RingSlot));
    if (self->slots == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    if (iterable == Py_None)
        return (PyObject *)self;
    if ((it = PyObject_GetIter(iterable)) == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *res = Ring_append(self, item);
        Py_DECREF(item);
        if (res == NULL) {
            Py_DECREF(it);
            Py_DECREF(self);
            return NULL;
        }
        Py_DECREF(res);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *
Ring_append(RingObject *self, PyObject *entry)
{
    if (!PyTuple_Check(entry)) {
        PyErr_SetString(PyExc_TypeError, "Ring.append(): an entry is a tuple");
        return NULL;
    }
    if (ring_push(self, NULL, 0, entry, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Ring_popleft(RingObject *self, PyObject *unused)
{
    PyObject *entry, *gone[RING_WIDTH];
    Py_ssize_t k;
    if (self->len == 0) {
        PyErr_SetString(PyExc_IndexError, "pop from an empty ring");
        return NULL;
    }
    entry = slot_entry(&self->slots[self->head]);
    if (entry == NULL)
        return NULL;
    k = slot_take(&self->slots[self->head], gone);
    self->head = self->head + 1 == self->room ? 0 : self->head + 1;
    self->len--;
    drop_all(gone, k);
    return entry;
}

/* zoo.events.Observatory._trim's walk: drop the oldest entries, but never the newest,
 * until their sizes (item 4) with base each come to at least over; return (n, gone),
 * the entries dropped and their bytes with base. The Python walk read each entry as a
 * tuple made for it (a tenth of a transcribed pub-sub server's cost went there). */
static PyObject *
Ring_trim(RingObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t over, base, n = 0, gone = 0;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "trim(over, base)");
        return NULL;
    }
    over = PyLong_AsSsize_t(args[0]);
    if (over == -1 && PyErr_Occurred())
        return NULL;
    base = PyLong_AsSsize_t(args[1]);
    if (base == -1 && PyErr_Occurred())
        return NULL;
    while (over > 0 && self->len > 1) {
        PyObject *dropped[RING_WIDTH];
        Py_ssize_t k, size = slot_size(&self->slots[self->head]);
        if (size == -1 && PyErr_Occurred())
            return NULL;
        k = slot_take(&self->slots[self->head], dropped);
        self->head = self->head + 1 == self->room ? 0 : self->head + 1;
        self->len--;
        n++;
        gone += size + base;
        over -= size + base;
        drop_all(dropped, k);
    }
    return Py_BuildValue("(nn)", n, gone);
}

static PyObject *
Ring_clear_method(RingObject *self, PyObject *unused)
{
    Ring_clear(self);
    Py_RETURN_NONE;
}

static Py_ssize_t
Ring_length(RingObject *self)
{
    return self->len;
}

static PyObject *
Ring_item(RingObject *self, Py_ssize_t i)
{
    if (i < 0 || i >= self->len) {
        PyErr_SetString(PyExc_IndexError, "ring index out of range");
        return NULL;
    }
    return slot_entry(ring_slot(self, i));
}

static int
Ring_ass_item(RingObject *self, Py_ssize_t i, PyObject *entry)
{
    PyObject *gone[RING_WIDTH];
    Py_ssize_t k;
    RingSlot *s;
    if (entry == NULL) {
        PyErr_SetString(PyExc_TypeError, "a ring's entries are not deleted by index");
        return -1;
    }
    if (!PyTuple_Check(entry)) {
        PyErr_SetString(PyExc_TypeError, "a ring's entry is a tuple");
        return -1;
    }
    if (i < 0 || i >= self->len) {
        PyErr_SetString(PyExc_IndexError, "ring assignment index out of range");
        return -1;
    }
    s = ring_slot(self, i);
    k = slot_take(s, gone);
    slot_fill_tuple(s, entry);
    drop_all(gone, k);
    return 0;
}

static PyObject *
Ring_maxlen(RingObject *self, void *closure)
{
    return PyLong_FromSsize_t(self->cap);
}

/* Iteration, oldest first or (reversed()) newest first; bounds checked at each step. */
typedef struct {
    PyObject_HEAD
    RingObject *ring;
    Py_ssize_t next; /* the entry to give next, counted from the oldest */
    int back;
} RingIterObject;

static PyTypeObject *ringiter_type;

static PyObject *
ring_iter(RingObject *ring, int back)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(ringiter_type, Py_tp_alloc);
    RingIterObject *it = (RingIterObject *)alloc(ringiter_type, 0);
    if (it == NULL)
        return NULL;
    Py_INCREF((PyObject *)ring);
    it->ring = ring;
    it->back = back;
    it->next = back ? ring->len - 1 : 0;
    return (PyObject *)it;
}

static PyObject *
Ring_iter(RingObject *self)
{
    return ring_iter(self, 0);
}

static PyObject *
Ring_reversed(RingObject *self, PyObject *unused)
{
    return ring_iter(self, 1);
}

static PyObject *
RingIter_next(RingIterObject *it)
{
    PyObject *entry;
    if (it->ring == NULL)
        return NULL;
    if (it->next < 0 || it->next >= it->ring->len) {
        Py_CLEAR(it->ring);
        return NULL; /* StopIteration */
    }
    entry = slot_entry(ring_slot(it->ring, it->next));
    it->next += it->back ? -1 : 1;
    return entry;
}

static int
RingIter_traverse(RingIterObject *it, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)it));
    Py_VISIT((PyObject *)it->ring);
    return 0;
}

static int
RingIter_clear(RingIterObject *it)
{
    Py_CLEAR(it->ring);
    return 0;
}

static void
RingIter_dealloc(RingIterObject *it)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)it);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(it);
    RingIter_clear(it);
    tp_free(it);
    Py_DECREF(tp);
}

static PyObject *
RingIter_self(PyObject *it)
{
    Py_INCREF(it);
    return it;
}

static PyType_Slot RingIter_slots[] = {
    {Py_tp_iter, RingIter_self},
    {Py_tp_iternext, RingIter_next},
    {Py_tp_dealloc, RingIter_dealloc},
    {Py_tp_traverse, RingIter_traverse},
    {Py_tp_clear, RingIter_clear},
    {0, NULL},
};

static PyType_Spec RingIter_spec = {
    "zoo._twisted._speedups.RingIterator",
    sizeof(RingIterObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    RingIter_slots,
};

static PyMethodDef Ring_methods[] = {
    {"append", (PyCFunction)Ring_append, METH_O,
     "append(entry): keep entry (a tuple) as the newest; a full ring drops its oldest"},
    {"popleft", (PyCFunction)Ring_popleft, METH_NOARGS, "remove and return the oldest entry"},
    {"clear", (PyCFunction)Ring_clear_method, METH_NOARGS, "drop every entry"},
    {"trim", (PyCFunction)(void (*)(void))Ring_trim, METH_FASTCALL,
     "trim(over, base) -> (n, gone): drop the oldest entries (never the newest) until\n"
     "their sizes (item 4) plus base each add up to at least over"},
    {"__reversed__", (PyCFunction)Ring_reversed, METH_NOARGS, "newest first"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Ring_getset[] = {
    {"maxlen", (getter)Ring_maxlen, NULL, "the most entries kept", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Ring_slots[] = {
    {Py_tp_doc, "Ring(iterable, maxlen): an event store's entries, in C: what zoo.events\n"
                "uses of deque(iterable, maxlen=maxlen), with each entry's items kept in\n"
                "a slot, so that zoo._twisted._speedups.Pair records an event with no tuple."},
    {Py_tp_new, Ring_new},
    {Py_tp_dealloc, Ring_dealloc},
    {Py_tp_traverse, Ring_traverse},
    {Py_tp_clear, Ring_clear},
    {Py_tp_iter, Ring_iter},
    {Py_tp_methods, Ring_methods},
    {Py_tp_getset, Ring_getset},
    {Py_sq_length, Ring_length},
    {Py_sq_item, Ring_item},
    {Py_sq_ass_item, Ring_ass_item},
    {0, NULL},
};

static PyType_Spec Ring_spec = {
    "zoo._twisted._speedups.Ring",
    sizeof(RingObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    Ring_slots,
};

typedef struct {
    PyObject_HEAD
    PyObject *obs;       /* the Observatory */
    SequenceObject *seq; /* obs._sequence: last_seq and live */
    PyObject *items;  /* the store's deque */
    Py_ssize_t cap;   /* its maxlen */
    PyObject *append; /* items.append */
    PyObject *turn;   /* the shared turn cell (a list), or a private [None, None] */
    Py_ssize_t slot;  /* where a new turn is written: 0 shared, 1 private */
    PyObject *now;    /* the clock */
    PyObject *me;     /* the Recorder */
    PyObject *live;   /* the Python record_pair (or record), for live delivery */
    int values;       /* the raw values of an event: 2 or 3 */
    PyObject *fold;   /* the recorder's fold */
    Py_ssize_t left, pending, gone;
    Py_ssize_t fold_at; /* pending bytes past which the next event folds too */
} PairObject;

static PyObject *s_sequence;
static PyTypeObject *pair_type; /* Pair, for publish_run's direct calls */

static int
Pair_traverse(PairObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->obs);
    Py_VISIT((PyObject *)self->seq);
    Py_VISIT(self->items);
    Py_VISIT(self->append);
    Py_VISIT(self->turn);
    Py_VISIT(self->now);
    Py_VISIT(self->me);
    Py_VISIT(self->live);
    Py_VISIT(self->fold);
    return 0;
}

static int
Pair_clear(PairObject *self)
{
    Py_CLEAR(self->obs);
    Py_CLEAR(self->seq);
    Py_CLEAR(self->items);
    Py_CLEAR(self->append);
    Py_CLEAR(self->turn);
    Py_CLEAR(self->now);
    Py_CLEAR(self->me);
    Py_CLEAR(self->live);
    Py_CLEAR(self->fold);
    return 0;
}

static void
Pair_dealloc(PairObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    Pair_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Pair_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"obs", "items", "cap", "turn", "slot", "now", "me", "live",
                             "fold", "left", "values", NULL};
    PyObject *obs, *items, *turn, *now, *me, *live, *fold, *append, *seq;
    Py_ssize_t cap, slot, left;
    int values = 2;
    PairObject *self;
    allocfunc alloc;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOnOnOOOOn|i", kwlist, &obs, &items, &cap,
                                     &turn, &slot, &now, &me, &live, &fold, &left, &values))
        return NULL;
    if (values != 2 && values != 3) {
        PyErr_SetString(PyExc_ValueError, "Pair(): values must be 2 or 3");
        return NULL;
    }
    if (!PyList_Check(turn) || slot < 0 || slot >= PyList_Size(turn) || cap <= 0) {
        PyErr_SetString(PyExc_ValueError, "Pair(): turn must be a list holding slot, cap > 0");
        return NULL;
    }
    seq = PyObject_GetAttr(obs, s_sequence);
    if (seq == NULL)
        return NULL;
    if (!PyObject_TypeCheck(seq, sequence_type)) {
        PyErr_SetString(PyExc_TypeError, "Pair(): obs._sequence must be a Sequence");
        Py_DECREF(seq);
        return NULL;
    }
    append = PyObject_GetAttrString(items, "append");
    if (append == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (PairObject *)alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(seq);
        Py_DECREF(append);
        return NULL;
    }
    Py_INCREF(obs);
    self->obs = obs;
    self->seq = (SequenceObject *)seq; /* owned */
    Py_INCREF(items);
    self->items = items;
    self->cap = cap;
    self->append = append;
    Py_INCREF(turn);
    self->turn = turn;
    self->slot = slot;
    Py_INCREF(now);
    self->now = now;
    Py_INCREF(me);
    self->me = me;
    Py_INCREF(live);
    self->live = live;
    Py_INCREF(fold);
    self->fold = fold;
    self->left = left;
    self->fold_at = PY_SSIZE_T_MAX;
    self->values = values;
    return (PyObject *)self;
}

static PyObject *pair_record(PairObject *self, PyObject *session, PyObject *size_obj,
                             PyObject *first, PyObject *second, PyObject *third);

static PyObject *
Pair_call(PairObject *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t n = PyTuple_Size(args);
    if ((kwds != NULL && PyDict_Size(kwds) != 0) || n != 2 + self->values) {
        PyErr_SetString(PyExc_TypeError, self->values == 2
                                             ? "record(session, size, first, second)"
                                             : "record(session, size, first, second, third)");
        return NULL;
    }
    return pair_record(self, PyTuple_GetItem(args, 0), PyTuple_GetItem(args, 1),
                       PyTuple_GetItem(args, 2), PyTuple_GetItem(args, 3),
                       n == 5 ? PyTuple_GetItem(args, 4) : NULL);
}

/* The call itself (zoo.events.Recorder's record_pair, or with third its record of a
 * three-value build), also made from C (Chunks, publish_run). The recorder's build
 * decides how many values its events have: always the same number. */
static PyObject *
pair_record(PairObject *self, PyObject *session, PyObject *size_obj, PyObject *first,
            PyObject *second, PyObject *third)
{
    PyObject *at, *offset, *entry, *res;
    Py_ssize_t size, seq, base, n;
    RingObject *ring;

    if (self->seq->live) /* obs.live: the Python record builds and delivers it */
        return PyObject_CallFunctionObjArgs(self->live, session, size_obj, first, second, third,
                                            NULL); /* (third NULL ends the arguments) */
    size = PyLong_AsSsize_t(size_obj);
    if (size == -1 && PyErr_Occurred())
        return NULL;
    seq = ++self->seq->last; /* seq = obs.last_seq = obs.last_seq + 1 */
    /* a full store: the append drops the oldest entry, count its bytes (a Ring: as
     * it drops it, below) */
    ring = Py_TYPE(self->items) == ring_type ? (RingObject *)self->items : NULL;
    n = ring != NULL ? 0 : PyObject_Size(self->items);
    if (n < 0)
        return NULL;
    if (ring == NULL && n == self->cap) {
        PyObject *oldest = PySequence_GetItem(self->items, 0), *old_size;
        Py_ssize_t was;
        if (oldest == NULL)
            return NULL;
        old_size = PySequence_GetItem(oldest, 4);
        Py_DECREF(oldest);
        if (old_size == NULL)
            return NULL;
        was = PyLong_AsSsize_t(old_size);
        Py_DECREF(old_size);
        if (was == -1 && PyErr_Occurred())
            return NULL;
        self->gone += was + ENTRY_OVERHEAD;
    }
    /* the turn's (time, base), or a new one */
    at = PyList_GetItem(self->turn, 0); /* borrowed */
    if (at == NULL)
        return NULL;
    base = -1;
    if (at != Py_None) {
        PyObject *b = PyTuple_GetItem(at, 1);
        if (b == NULL)
            return NULL;
        base = PyLong_AsSsize_t(b);
        if (base == -1 && PyErr_Occurred())
            return NULL;
        Py_INCREF(at);
    }
    if (at == Py_None || seq - base > OFFSETS) {
        PyObject *t, *b;
        if (at != Py_None)
            Py_DECREF(at);
        t = PyObject_CallFunctionObjArgs(self->now, NULL);
        if (t == NULL)
            return NULL;
        base = seq - 1;
        b = PyLong_FromSsize_t(base);
        if (b == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        at = PyTuple_Pack(2, t, b);
        Py_DECREF(t);
        Py_DECREF(b);
        if (at == NULL)
            return NULL;
        Py_INCREF(at);
        if (PyList_SetItem(self->turn, self->slot, at) < 0) { /* steals one */
            Py_DECREF(at);
            return NULL;
        }
    }
    offset = PyLong_FromSsize_t(seq - base);
    if (offset == NULL) {
        Py_DECREF(at);
        return NULL;
    }
    if (ring != NULL) { /* the items straight into the ring's next slot */
        PyObject *items[8] = {at, offset, self->me, session, size_obj, first, second, third};
        Py_ssize_t dropped;
        int full = ring->len == ring->cap, rc;
        rc = ring_push(ring, items, third == NULL ? 7 : 8, NULL, &dropped);
        Py_DECREF(at);
        Py_DECREF(offset);
        if (rc < 0)
            return NULL;
        if (full)
            self->gone += dropped + ENTRY_OVERHEAD;
    } else {
        entry = third == NULL
            ? PyTuple_Pack(7, at, offset, self->me, session, size_obj, first, second)
            : PyTuple_Pack(8, at, offset, self->me, session, size_obj, first, second, third);
        Py_DECREF(at);
        Py_DECREF(offset);
        if (entry == NULL)
            return NULL;
        res = PyObject_CallFunctionObjArgs(self->append, entry, NULL);
        Py_DECREF(entry);
        if (res == NULL)
            return NULL;
        Py_DECREF(res);
    }
    self->pending += size;
    self->left -= 1;
    if (!self->left || self->pending > self->fold_at)
        return PyObject_CallFunctionObjArgs(self->fold, NULL);
    Py_RETURN_NONE;
}

static PyMemberDef Pair_members[] = {
    {"left", T_PYSSIZET, offsetof(PairObject, left), 0, "events before the next fold"},
    {"pending", T_PYSSIZET, offsetof(PairObject, pending), 0,
     "bytes recorded since the last fold"},
    {"gone", T_PYSSIZET, offsetof(PairObject, gone), 0,
     "bytes (with their overhead) of the entries appending pushed out"},
    {"fold_at", T_PYSSIZET, offsetof(PairObject, fold_at), 0,
     "pending bytes past which the next event folds too (the fold sets it)"},
    {"values", T_INT, offsetof(PairObject, values), READONLY, "the raw values of an event"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Pair_slots[] = {
    {Py_tp_doc, "Pair(obs, items, cap, turn, slot, now, me, live, fold, left, values=2): a\n"
                "recorder's record_pair(session, size, first, second), or with values=3 its\n"
                "record(session, size, first, second, third), in C (zoo.events.Recorder)."},
    {Py_tp_new, Pair_new},
    {Py_tp_dealloc, Pair_dealloc},
    {Py_tp_traverse, Pair_traverse},
    {Py_tp_clear, Pair_clear},
    {Py_tp_call, Pair_call},
    {Py_tp_members, Pair_members},
    {0, NULL},
};

static PyType_Spec Pair_spec = {
    "zoo._twisted._speedups.Pair",
    sizeof(PairObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    Pair_slots,
};

/* ---- Chunks: a byte stream's transcript ----------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *obs;    /* the Observatory: enabled */
    PyObject *record; /* the recorder's record (a Pair, or its Python twin) */
    PyObject *sid;    /* the session id */
    Py_ssize_t limit; /* the most bytes of a chunk kept */
} ChunksObject;

static PyObject *s_enabled;

/* The last bytes object any Chunks cut to its limit, and the cut (held: while cut_from
 * lives no other object can have its address). Several connections sent the same bytes
 * object in a row (zoo.pubsub.core.Client.send_now): they keep the one cut. */
static PyObject *cut_from, *cut_kept;
static Py_ssize_t cut_limit = -1;
#define CUT_KEEP 65536 /* the largest bytes object held for that (zoo.sessions.CUT_KEEP) */

static int
Chunks_traverse(ChunksObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->obs);
    Py_VISIT(self->record);
    Py_VISIT(self->sid);
    return 0;
}

static int
Chunks_clear(ChunksObject *self)
{
    Py_CLEAR(self->obs);
    Py_CLEAR(self->record);
    Py_CLEAR(self->sid);
    return 0;
}

static void
Chunks_dealloc(ChunksObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    Chunks_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Chunks_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"obs", "record", "sid", "limit", NULL};
    PyObject *obs, *record, *sid;
    Py_ssize_t limit;
    ChunksObject *self;
    allocfunc alloc;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOn", kwlist, &obs, &record, &sid, &limit))
        return NULL;
    if (limit < 0) {
        PyErr_SetString(PyExc_ValueError, "Chunks(): limit >= 0");
        return NULL;
    }
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (ChunksObject *)alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(obs);
    self->obs = obs;
    Py_INCREF(record);
    self->record = record;
    Py_INCREF(sid);
    self->sid = sid;
    self->limit = limit;
    return (PyObject *)self;
}

/* The start of a transcript side's chunk(data) (Chunks, LineSide): 1 with *data and
 * its size *n to record, 0 for nothing to record (observation off, no bytes), -1 on
 * an error. */
static int
chunk_argument(PyObject *obs, PyObject *args, PyObject *kwds, PyObject **data, Py_ssize_t *n)
{
    int on;
    if ((kwds != NULL && PyDict_Size(kwds) != 0) || PyTuple_Size(args) != 1) {
        PyErr_SetString(PyExc_TypeError, "chunk(data)");
        return -1;
    }
    *data = PyTuple_GetItem(args, 0);
    if ((on = attr_true(obs, s_enabled)) <= 0)
        return on;
    if ((*n = PyObject_Size(*data)) < 0)
        return -1;
    return *n > 0;
}

/* record(sid, shown, chunk, n), or with tag record(sid, shown, chunk, tag, n) (a line
 * side's shown bytes and tag): the two sizes made ints (one int if they are equal),
 * a Pair called in place. */
static PyObject *
record_chunk(PyObject *record, PyObject *sid, Py_ssize_t shown, PyObject *chunk, PyObject *tag,
             Py_ssize_t n)
{
    PyObject *shown_obj = PyLong_FromSsize_t(shown), *size = NULL, *res = NULL;
    if (shown_obj != NULL && shown == n) {
        size = shown_obj;
        Py_INCREF(size);
    } else if (shown_obj != NULL)
        size = PyLong_FromSsize_t(n);
    if (size != NULL) {
        if (Py_TYPE(record) == pair_type && ((PairObject *)record)->values == (tag ? 3 : 2))
            res = pair_record((PairObject *)record, sid, shown_obj, chunk, tag ? tag : size,
                              tag ? size : NULL);
        else
            res = PyObject_CallFunctionObjArgs(record, sid, shown_obj, chunk, tag ? tag : size,
                                               tag ? size : NULL, NULL);
    }
    Py_XDECREF(shown_obj);
    Py_XDECREF(size);
    return res;
}

static PyObject *
Chunks_call(ChunksObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *data, *kept = NULL, *res;
    Py_ssize_t n;
    int go = chunk_argument(self->obs, args, kwds, &data, &n);
    if (go <= 0) {
        if (go < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    if (n <= self->limit || (n <= 2 * self->limit && PyBytes_CheckExact(data))) {
        kept = data; /* whole, no copy (zoo.transcript.KEEP_WHOLE) */
        Py_INCREF(kept);
    } else if (data == cut_from && self->limit == cut_limit) {
        kept = cut_kept; /* the same bytes sent again (pub-sub's subscribers): one copy */
        Py_INCREF(kept);
    } else if ((kept = PySequence_GetSlice(data, 0, self->limit)) == NULL)
        return NULL;
    else if (PyBytes_CheckExact(data) && n <= CUT_KEEP) {
        /* immutable: its cut stays right while we hold it; only a write of a size
         * pub-sub batches come in, so that holding it keeps little memory alive */
        PyObject *old_from = cut_from, *old_kept = cut_kept;
        Py_INCREF(data);
        Py_INCREF(kept);
        cut_from = data;
        cut_kept = kept;
        cut_limit = self->limit;
        Py_XDECREF(old_from);
        Py_XDECREF(old_kept);
    }
    res = record_chunk(self->record, self->sid, kept == data ? n : self->limit, kept, NULL, n);
    Py_DECREF(kept);
    return res;
}

static PyType_Slot Chunks_slots[] = {
    {Py_tp_doc, "Chunks(obs, record, sid, limit): chunk(data), in C.\n\n"
                "zoo.sessions.plain_chunks' closure, step for step."},
    {Py_tp_new, Chunks_new},
    {Py_tp_dealloc, Chunks_dealloc},
    {Py_tp_traverse, Chunks_traverse},
    {Py_tp_clear, Chunks_clear},
    {Py_tp_call, Chunks_call},
    {0, NULL},
};

static PyType_Spec Chunks_spec = {
    "zoo._twisted._speedups.Chunks",
    sizeof(ChunksObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    Chunks_slots,
};

/* ---- LineSide: one side of a line protocol's transcript ---------------------------- */

/* zoo.sessions' chunk closure over a zoo.transcript.Lines transcriber, with the
 * transcriber's short ways in C: a client read that is one whole untagged line at a
 * line's start with no secret verb, a client read of a message body that ends at or
 * after the read's end, and a server write outside SASL with three-digit replies
 * (_codes), looking for the 354 that starts a body after DATA. Anything else is the
 * transcriber's own client() or server(), as the closure calls it. The transcriber's
 * settings (its secrets, sasl verb, body, literals, tagged, _codes, _short) are read
 * once, when the side is made; its state (_skip, _body, _tail, _off, _in_sasl,
 * _continued, _want_body, _s_start) at every call. A chunk is recorded as
 * record(sid, shown size, shown, tag, size): no Chunk, the tag being its label or,
 * where a secret was hidden, hide(label) (zoo.transcript.tag_of). */

typedef struct {
    PyObject_HEAD
    PyObject *obs, *record, *sid, *t; /* the Observatory, the recorder, the id, the Lines */
    PyObject *general;                /* t.client or t.server */
    PyObject *hide;                   /* zoo.transcript.Hidden */
    PyObject *secrets, *sasl;         /* t.secrets (a dict), t.sasl (bytes or None) */
    int client, short_way, body;      /* side; t._short and not literals/tagged; t.body */
} LineSideObject;

static PyObject *s_skip, *s_body, *s_off, *s_in_sasl, *s_continued, *s_want_body,
    *s_s_start, *s_tail, *s_short, *s_literals, *s_tagged, *s_secrets, *s_sasl, *s_body_on,
    *s_codes, *s_client, *s_server;

static int
LineSide_traverse(LineSideObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->obs);
    Py_VISIT(self->record);
    Py_VISIT(self->sid);
    Py_VISIT(self->t);
    Py_VISIT(self->general);
    Py_VISIT(self->hide);
    Py_VISIT(self->secrets);
    Py_VISIT(self->sasl);
    return 0;
}

static int
LineSide_clear(LineSideObject *self)
{
    Py_CLEAR(self->obs);
    Py_CLEAR(self->record);
    Py_CLEAR(self->sid);
    Py_CLEAR(self->t);
    Py_CLEAR(self->general);
    Py_CLEAR(self->hide);
    Py_CLEAR(self->secrets);
    Py_CLEAR(self->sasl);
    return 0;
}

static void
LineSide_dealloc(LineSideObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    LineSide_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
LineSide_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"obs", "record", "sid", "transcriber", "client", "hide", NULL};
    PyObject *obs, *record, *sid, *t, *hide;
    int client, short_on, literals, tagged, codes, body;
    LineSideObject *self;
    allocfunc alloc;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOpO", kwlist, &obs, &record, &sid, &t,
                                     &client, &hide))
        return NULL;
    if ((short_on = attr_true(t, s_short)) < 0 || (literals = attr_true(t, s_literals)) < 0 ||
        (tagged = attr_true(t, s_tagged)) < 0 || (codes = attr_true(t, s_codes)) < 0 ||
        (body = attr_true(t, s_body_on)) < 0)
        return NULL;
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (LineSideObject *)alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->general = PyObject_GetAttr(t, client ? s_client : s_server);
    self->secrets = PyObject_GetAttr(t, s_secrets);
    self->sasl = PyObject_GetAttr(t, s_sasl);
    if (self->general == NULL || self->secrets == NULL || self->sasl == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    if (!PyDict_Check(self->secrets)) {
        PyErr_SetString(PyExc_TypeError, "LineSide(): transcriber.secrets must be a dict");
        Py_DECREF(self);
        return NULL;
    }
    Py_INCREF(obs);
    self->obs = obs;
    Py_INCREF(record);
    self->record = record;
    Py_INCREF(sid);
    self->sid = sid;
    Py_INCREF(t);
    self->t = t;
    Py_INCREF(hide);
    self->hide = hide;
    self->client = client;
    self->body = body;
    self->short_way = short_on && (client ? !literals && !tagged : codes);
    return (PyObject *)self;
}

/* A reply code's label (new reference): one int per code, made once and shared by every
 * chunk it labels (Python keeps only up to 256; 354, 334 and the 4xx and 5xx are not). */
static PyObject *code_labels[1000];

static PyObject *
code_label(int code)
{
    if (code_labels[code] == NULL && (code_labels[code] = PyLong_FromLong(code)) == NULL)
        return NULL;
    Py_INCREF(code_labels[code]);
    return code_labels[code];
}

/* A client's verbs, each as one str that every chunk it labels shares (a store keeps
 * thousands of chunks, and most are labelled MAIL, RCPT or the like). Bounded: the
 * verbs are the clients' to choose. */
static PyObject *verb_labels;
#define VERB_LABELS 256

/* The label of a verb (new reference), shared through verb_labels. */
static PyObject *
verb_label(PyObject *verb, const char *v, Py_ssize_t vlen)
{
    PyObject *label = PyDict_GetItemWithError(verb_labels, verb);
    if (label != NULL) {
        Py_INCREF(label);
        return label;
    }
    if (PyErr_Occurred())
        return NULL;
    label = PyUnicode_DecodeASCII(v, vlen, "replace");
    if (label != NULL && PyDict_Size(verb_labels) < VERB_LABELS &&
        PyDict_SetItem(verb_labels, verb, label) < 0)
        Py_CLEAR(label);
    return label;
}

/* The body's terminator, CRLF.CRLF, in tail + data: where it ends in data (0 < end <=
 * n), or 0 if it is not there. */
static Py_ssize_t
body_end(const char *tail, Py_ssize_t lt, const char *p, Py_ssize_t n)
{
    static const char stop[5] = {'\r', '\n', '.', '\r', '\n'};
    Py_ssize_t i, k;
    for (i = 0; i < lt; i++) { /* a terminator that starts in the tail */
        for (k = 0; k < 5; k++) {
            Py_ssize_t j = i + k;
            char c;
            if (j < lt)
                c = tail[j];
            else if (j - lt < n)
                c = p[j - lt];
            else
                break;
            if (c != stop[k])
                break;
        }
        if (k == 5)
            return i + 5 - lt;
    }
    for (const char *q = p; (q = memchr(q, '\r', (size_t)(p + n - q))) != NULL; q++)
        if (p + n - q >= 5 && memcmp(q, stop, 5) == 0)
            return q - p + 5;
    return 0;
}

/* Part of a message body (zoo.transcript._LineEngine._in_body), read whole: its
 * chunk, NULL with no error set if the read goes on past the body's end (the general
 * way then reads the lines after it). */
static PyObject *
line_body(LineSideObject *self, const char *p, Py_ssize_t n, PyObject *data, PyObject **shown)
{
    PyObject *tail = PyObject_GetAttr(self->t, s_tail), *rest;
    Py_ssize_t lt, end;
    if (tail == NULL)
        return NULL;
    if (!PyBytes_CheckExact(tail) || (lt = PyBytes_Size(tail)) > 4) {
        Py_DECREF(tail);
        return NULL; /* not what the engine leaves: the general way */
    }
    end = body_end(PyBytes_AsString(tail), lt, p, n);
    if (end != 0 && end != n) {
        Py_DECREF(tail);
        return NULL; /* more after the body in this read */
    }
    if (end == n)
        rest = PyBytes_FromStringAndSize(NULL, 0);
    else if (n >= 4)
        rest = PyBytes_FromStringAndSize(p + n - 4, 4);
    else { /* the last four bytes of tail + data */
        char w[8];
        memcpy(w, PyBytes_AsString(tail), (size_t)lt);
        memcpy(w + lt, p, (size_t)n);
        rest = PyBytes_FromStringAndSize(lt + n > 4 ? w + lt + n - 4 : w,
                                         lt + n > 4 ? 4 : lt + n);
    }
    Py_DECREF(tail);
    if (rest == NULL)
        return NULL;
    if ((end == n && PyObject_SetAttr(self->t, s_body, Py_False) < 0) ||
        PyObject_SetAttr(self->t, s_tail, rest) < 0) {
        Py_DECREF(rest);
        return NULL;
    }
    Py_DECREF(rest);
    if (n <= 4096) { /* zoo.transcript.LIMIT */
        *shown = data;
        Py_INCREF(data);
    } else if ((*shown = PySequence_GetSlice(data, 0, 4096)) == NULL)
        return NULL;
    Py_INCREF(Py_None);
    return Py_None; /* its tag: no label, nothing hidden */
}

/* 1 if obj.name is None, 0 if not, -1 on error. */
static int
attr_none(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    Py_DECREF(v);
    return v == Py_None;
}

/* The client's short way: its chunk, NULL with no error set if it does not apply. */
static PyObject *
line_client(LineSideObject *self, const char *p, Py_ssize_t n, PyObject *data, PyObject **shown)
{
    Py_ssize_t text, vlen, i;
    const char *sp;
    PyObject *verb, *label;
    char *v;
    int t, is_sasl;
    if ((t = attr_true(self->t, s_skip)) != 0)
        return NULL;
    if ((t = attr_true(self->t, s_body)) != 0)
        return t < 0 ? NULL : line_body(self, p, n, data, shown);
    if (n > 512 || memchr(p, '\n', (size_t)n) != p + n - 1) /* _HEAD; one line */
        return NULL;
    if ((t = attr_true(self->t, s_off)) != 0 || (t = attr_true(self->t, s_in_sasl)) != 0 ||
        (t = attr_none(self->t, s_continued)) != 1)
        return NULL; /* (an error, when t < 0, stays set) */
    text = n >= 2 && p[n - 2] == '\r' ? n - 2 : n - 1;
    if (text > 0 && p[text - 1] == '\r')
        return NULL; /* _line_done names it without those: rare, the general way */
    sp = memchr(p, ' ', (size_t)text);
    vlen = sp != NULL ? sp - p : text;
    verb = PyBytes_FromStringAndSize(NULL, vlen);
    if (verb == NULL)
        return NULL;
    v = PyBytes_AsString(verb);
    for (i = 0; i < vlen; i++) /* bytes.upper(): ASCII letters only */
        v[i] = p[i] >= 'a' && p[i] <= 'z' ? (char)(p[i] - 32) : p[i];
    if ((t = PyDict_Contains(self->secrets, verb)) != 0) {
        Py_DECREF(verb);
        return NULL; /* a secret: the general way hides it */
    }
    is_sasl = self->sasl != Py_None && PyBytes_Check(self->sasl) &&
              PyBytes_Size(self->sasl) == vlen && memcmp(PyBytes_AsString(self->sasl), v, vlen) == 0;
    if (is_sasl && PyObject_SetAttr(self->t, s_in_sasl, Py_True) < 0) {
        Py_DECREF(verb);
        return NULL;
    }
    if (self->body &&
        PyObject_SetAttr(self->t, s_want_body,
                         vlen == 4 && memcmp(v, "DATA", 4) == 0 ? Py_True : Py_False) < 0) {
        Py_DECREF(verb);
        return NULL;
    }
    if (vlen == 0) {
        label = Py_None;
        Py_INCREF(label);
    } else
        label = verb_label(verb, v, vlen);
    Py_DECREF(verb);
    return label; /* its tag (NULL with an error set if it could not be made) */
}

/* The server's short way: its chunk, NULL with no error set if it does not apply. */
static PyObject *
line_server(LineSideObject *self, const char *p, Py_ssize_t n, PyObject *data, PyObject **shown)
{
    PyObject *label;
    int start, t, want;
    if ((t = attr_true(self->t, s_in_sasl)) != 0 || (want = attr_true(self->t, s_want_body)) < 0)
        return NULL; /* watching a SASL exchange's lines: the general way */
    if ((start = attr_true(self->t, s_s_start)) < 0)
        return NULL;
    if (want) { /* after DATA: a line starting 354 starts the body (Lines._server_line) */
        const char *nl;
        Py_ssize_t at = 0;
        if (!start)
            at = (nl = memchr(p, '\n', (size_t)n)) != NULL ? nl - p + 1 : n;
        while (at < n) {
            if (n - at >= 3 && memcmp(p + at, "354", 3) == 0) {
                PyObject *crlf = PyBytes_FromStringAndSize("\r\n", 2);
                if (crlf == NULL || PyObject_SetAttr(self->t, s_want_body, Py_False) < 0 ||
                    PyObject_SetAttr(self->t, s_body, Py_True) < 0 ||
                    PyObject_SetAttr(self->t, s_tail, crlf) < 0) {
                    Py_XDECREF(crlf);
                    return NULL;
                }
                Py_DECREF(crlf);
                break;
            }
            if ((nl = memchr(p + at, '\n', (size_t)(n - at))) == NULL)
                break;
            at = nl - p + 1;
        }
    }
    if (PyObject_SetAttr(self->t, s_s_start, p[n - 1] == '\n' ? Py_True : Py_False) < 0)
        return NULL;
    if (start && n >= 3 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' &&
        p[2] >= '0' && p[2] <= '9')
        label = code_label((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
    else {
        label = Py_None;
        Py_INCREF(label);
    }
    if (n <= 4096) { /* zoo.transcript.LIMIT */
        *shown = data;
        Py_INCREF(data);
    } else if ((*shown = PySequence_GetSlice(data, 0, 4096)) == NULL) {
        Py_XDECREF(label);
        return NULL;
    }
    return label;
}

static PyObject *
LineSide_call(LineSideObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *data, *tag = NULL, *shown = NULL, *chunk, *res;
    Py_ssize_t n;
    int redacted;
    int go = chunk_argument(self->obs, args, kwds, &data, &n);
    if (go <= 0) {
        if (go < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    if (self->short_way && PyBytes_CheckExact(data)) {
        const char *p = PyBytes_AsString(data);
        tag = self->client ? line_client(self, p, n, data, &shown)
                           : line_server(self, p, n, data, &shown);
        if (tag == NULL && PyErr_Occurred()) {
            Py_XDECREF(shown);
            return NULL;
        }
    }
    if (tag != NULL) { /* shown as sent (or its first LIMIT bytes), nothing hidden */
        shown = shown != NULL ? shown : Py_NewRef(data);
        res = record_chunk(self->record, self->sid, PyBytes_Size(shown), shown, tag, n);
        Py_DECREF(shown);
        Py_DECREF(tag);
        return res;
    }
    /* The general way: the transcriber's Chunk (shown, redacted, label), kept as
     * shown and its tag (the label; in self->hide when something was hidden). */
    chunk = PyObject_CallFunctionObjArgs(self->general, data, NULL);
    if (chunk == NULL)
        return NULL;
    if (!PyTuple_Check(chunk) || PyTuple_Size(chunk) != 3 ||
        !PyBytes_Check(PyTuple_GetItem(chunk, 0))) {
        Py_DECREF(chunk);
        PyErr_SetString(PyExc_TypeError, "LineSide: the transcriber did not return a Chunk");
        return NULL;
    }
    shown = PyTuple_GetItem(chunk, 0);
    redacted = PyObject_IsTrue(PyTuple_GetItem(chunk, 1));
    if (redacted < 0) {
        Py_DECREF(chunk);
        return NULL;
    }
    tag = redacted ? PyObject_CallFunctionObjArgs(self->hide, PyTuple_GetItem(chunk, 2), NULL)
                   : Py_NewRef(PyTuple_GetItem(chunk, 2));
    if (tag == NULL) {
        Py_DECREF(chunk);
        return NULL;
    }
    res = record_chunk(self->record, self->sid, PyBytes_Size(shown), shown, tag, n);
    Py_DECREF(tag);
    Py_DECREF(chunk);
    return res;
}

static PyType_Slot LineSide_slots[] = {
    {Py_tp_doc, "LineSide(obs, record, sid, transcriber, client, hide): chunk(data), in C.\n\n"
                "zoo.sessions' chunk closure over a zoo.transcript.Lines transcriber, with\n"
                "its short ways (Lines.client, Lines.server) done here."},
    {Py_tp_new, LineSide_new},
    {Py_tp_dealloc, LineSide_dealloc},
    {Py_tp_traverse, LineSide_traverse},
    {Py_tp_clear, LineSide_clear},
    {Py_tp_call, LineSide_call},
    {0, NULL},
};

static PyType_Spec LineSide_spec = {
    "zoo._twisted._speedups.LineSide",
    sizeof(LineSideObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    LineSide_slots,
};

/* ---- blocks: whole length-prefixed blocks in one read -------------------------- */

/* ---- WholeBlocks: zoo-blocks' counts, and echo mode's step for whole blocks ------ */

/* zoo.blocks.WholeBlocks in C: a connection's block and series counts, and echo
 * mode's read step. echo(data) sends a read of whole blocks back as it came when the
 * parser is between blocks (clean) and every header is within the limit: the count,
 * the command clock and the write in one call, with no Python frame. */
typedef struct {
    PyObject_HEAD
    long long limit;
    Py_ssize_t blocks;
    Py_ssize_t series;
    Py_ssize_t grow_at; /* a read this long declines: the server reads bigger first */
    char clean;
    PyObject *done;      /* zoo.policies.command_done */
    PyObject *transport; /* NULL reads as None */
    PyObject *write;
} WholeBlocksObject;

static int
WholeBlocks_traverse(WholeBlocksObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->done);
    Py_VISIT(self->transport);
    Py_VISIT(self->write);
    return 0;
}

static int
WholeBlocks_clear(WholeBlocksObject *self)
{
    Py_CLEAR(self->done);
    Py_CLEAR(self->transport);
    Py_CLEAR(self->write);
    return 0;
}

static void
WholeBlocks_dealloc(WholeBlocksObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    WholeBlocks_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
WholeBlocks_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"limit", "done", NULL};
    long long limit;
    PyObject *done;
    allocfunc alloc;
    WholeBlocksObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "LO", kwlist, &limit, &done))
        return NULL;
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (WholeBlocksObject *)alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->limit = limit;
    self->grow_at = PY_SSIZE_T_MAX;
    self->clean = 1;
    Py_INCREF(done);
    self->done = done;
    return (PyObject *)self;
}

/* zoo.blocks.skim_blocks: 1 if p[:n] is whole blocks only, each length at most
 * limit, with their counts in *blocks and *ends; 0 otherwise. */
static int
scan_blocks(const unsigned char *p, Py_ssize_t n, long long limit, Py_ssize_t *blocks,
            Py_ssize_t *ends)
{
    Py_ssize_t i = 0;
    *blocks = *ends = 0;
    while (n - i >= 4) {
        unsigned long long length = ((unsigned long long)p[i] << 24)
                                    | ((unsigned long long)p[i + 1] << 16)
                                    | ((unsigned long long)p[i + 2] << 8) | p[i + 3];
        if ((long long)length > limit || length > (unsigned long long)(n - i - 4))
            return 0; /* too long, or cut off: not whole blocks */
        i += 4 + (Py_ssize_t)length;
        if (length)
            *blocks += 1;
        else
            *ends += 1;
    }
    return i == n;
}

static PyObject *
WholeBlocks_echo(PyObject *me, PyObject *data)
{
    WholeBlocksObject *self = (WholeBlocksObject *)me;
    Py_buffer view;
    Py_ssize_t blocks, ends;
    PyObject *res;
    int whole;
    if (!self->clean || self->write == NULL || self->write == Py_None)
        Py_RETURN_FALSE;
    if (PyBytes_Check(data)) {
        if (PyBytes_Size(data) >= self->grow_at)
            Py_RETURN_FALSE;
        whole = scan_blocks((const unsigned char *)PyBytes_AsString(data), PyBytes_Size(data),
                            self->limit, &blocks, &ends);
    } else {
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        if (view.len >= self->grow_at) {
            PyBuffer_Release(&view);
            Py_RETURN_FALSE;
        }
        whole = scan_blocks(view.buf, view.len, self->limit, &blocks, &ends);
        PyBuffer_Release(&view);
    }
    if (!whole)
        Py_RETURN_FALSE;
    if (command_done(self->transport, self->done) < 0)
        return NULL;
    self->blocks += blocks;
    self->series += ends;
    res = PyObject_CallFunctionObjArgs(self->write, data, NULL);
    if (res == NULL)
        return NULL;
    Py_DECREF(res);
    Py_RETURN_TRUE;
}

static PyMethodDef WholeBlocks_methods[] = {
    {"echo", WholeBlocks_echo, METH_O,
     "echo(data) -> bool: send a read of whole blocks back as it came (counted, the\n"
     "command clock stopped) and return True; anything else: False, nothing done."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef WholeBlocks_members[] = {
    {"limit", T_LONGLONG, offsetof(WholeBlocksObject, limit), READONLY,
     "the largest block length a header may announce"},
    {"blocks", T_PYSSIZET, offsetof(WholeBlocksObject, blocks), 0, "non-empty blocks so far"},
    {"series", T_PYSSIZET, offsetof(WholeBlocksObject, series), 0,
     "zero-length blocks (ends of a series) so far"},
    {"clean", T_BOOL, offsetof(WholeBlocksObject, clean), 0,
     "whether the parser is between blocks (echo() needs it)"},
    {"grow_at", T_PYSSIZET, offsetof(WholeBlocksObject, grow_at), 0,
     "a read at least this long is declined (the server grows its reads first)"},
    {"done", T_OBJECT, offsetof(WholeBlocksObject, done), READONLY,
     "command_done, for a transport that is not a zoo wrapper"},
    {"transport", T_OBJECT, offsetof(WholeBlocksObject, transport), 0,
     "the connection's transport, or None"},
    {"write", T_OBJECT, offsetof(WholeBlocksObject, write), 0,
     "how echo() sends, or None (then it sends nothing)"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot WholeBlocks_slots[] = {
    {Py_tp_doc, "WholeBlocks(limit, done): a zoo-blocks connection's counts and echo mode's\n"
                "step for a read of whole blocks, in C (zoo.blocks.WholeBlocks in Python)."},
    {Py_tp_new, WholeBlocks_new},
    {Py_tp_dealloc, WholeBlocks_dealloc},
    {Py_tp_traverse, WholeBlocks_traverse},
    {Py_tp_clear, WholeBlocks_clear},
    {Py_tp_methods, WholeBlocks_methods},
    {Py_tp_members, WholeBlocks_members},
    {0, NULL},
};

static PyType_Spec WholeBlocks_spec = {
    "zoo._twisted._speedups.WholeBlocks",
    sizeof(WholeBlocksObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    WholeBlocks_slots,
};

/* ---- Lancelot: a session's state, and the usual read's step ------------------- */

/* The base of zoo.lancelot.Session: the fields the usual read touches, as C fields
 * (Python: the same names as __slots__ of zoo.lancelot.SessionState). */
typedef struct {
    PyObject_HEAD
    PyObject *asked;       /* _asked: the answer book keyed by question with its '?' */
    PyObject *buffer;      /* _buffer: bytes after the last '?' (NULL reads as None) */
    char closing;
    Py_ssize_t answered;
    PyObject *observe;     /* a recorder's record, or None */
    PyObject *observed_as; /* the session id it records as */
} LancelotStateObject;

static PyTypeObject *lancelot_state_type;

static int
LancelotState_traverse(LancelotStateObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->asked);
    Py_VISIT(self->buffer);
    Py_VISIT(self->observe);
    Py_VISIT(self->observed_as);
    return 0;
}

static int
LancelotState_clear(LancelotStateObject *self)
{
    Py_CLEAR(self->asked);
    Py_CLEAR(self->buffer);
    Py_CLEAR(self->observe);
    Py_CLEAR(self->observed_as);
    return 0;
}

static void
LancelotState_dealloc(LancelotStateObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    LancelotState_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
LancelotState_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    /* A subclass's own arguments go to its __init__, which sets the fields. */
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    return alloc(type, 0);
}

static PyMemberDef LancelotState_members[] = {
    {"_asked", T_OBJECT, offsetof(LancelotStateObject, asked), 0,
     "the answer book, keyed by each question with its '?'"},
    {"_buffer", T_OBJECT, offsetof(LancelotStateObject, buffer), 0,
     "bytes received after the last '?'"},
    {"closing", T_BOOL, offsetof(LancelotStateObject, closing), 0,
     "whether the client went over the length limit"},
    {"answered", T_PYSSIZET, offsetof(LancelotStateObject, answered), 0, "questions answered"},
    {"observe", T_OBJECT, offsetof(LancelotStateObject, observe), 0,
     "records each question and its answer, or None"},
    {"observed_as", T_OBJECT, offsetof(LancelotStateObject, observed_as), 0,
     "the session id observe records as"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot LancelotState_slots[] = {
    {Py_tp_doc, "LancelotState(): the fields of a Lancelot session the usual read touches,\n"
                "in C (the base of zoo.lancelot.Session; zoo.lancelot.SessionState in Python)."},
    {Py_tp_new, LancelotState_new},
    {Py_tp_dealloc, LancelotState_dealloc},
    {Py_tp_traverse, LancelotState_traverse},
    {Py_tp_clear, LancelotState_clear},
    {Py_tp_members, LancelotState_members},
    {0, NULL},
};

static PyType_Spec LancelotState_spec = {
    "zoo._twisted._speedups.LancelotState",
    sizeof(LancelotStateObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    LancelotState_slots,
};

/* zoo.lancelot.QuickAnswer in C: the usual read (one whole question, exactly as the
 * book spells it, nothing buffered) answered in one call: the event if observing,
 * the count, the command clock and the write. Anything else: False, nothing done. */
typedef struct {
    PyObject_HEAD
    PyObject *session; /* a LancelotState */
    PyObject *obs;     /* the observatory: its enabled is read on every call */
    PyObject *done;    /* zoo.policies.command_done */
    PyObject *transport;
    PyObject *write;
} QuickAnswerObject;

static int
QuickAnswer_traverse(QuickAnswerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->session);
    Py_VISIT(self->obs);
    Py_VISIT(self->done);
    Py_VISIT(self->transport);
    Py_VISIT(self->write);
    return 0;
}

static int
QuickAnswer_clear(QuickAnswerObject *self)
{
    Py_CLEAR(self->session);
    Py_CLEAR(self->obs);
    Py_CLEAR(self->done);
    Py_CLEAR(self->transport);
    Py_CLEAR(self->write);
    return 0;
}

static void
QuickAnswer_dealloc(QuickAnswerObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    QuickAnswer_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
QuickAnswer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"session", "observatory", "done", NULL};
    PyObject *session, *obs, *done;
    allocfunc alloc;
    QuickAnswerObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO", kwlist, &session, &obs, &done))
        return NULL;
    if (!PyObject_TypeCheck(session, lancelot_state_type)) {
        PyErr_SetString(PyExc_TypeError, "QuickAnswer(): session must be a LancelotState");
        return NULL;
    }
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (QuickAnswerObject *)alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(session);
    self->session = session;
    Py_INCREF(obs);
    self->obs = obs;
    Py_INCREF(done);
    self->done = done;
    return (PyObject *)self;
}

static PyObject *
QuickAnswer_ask(PyObject *me, PyObject *data)
{
    QuickAnswerObject *self = (QuickAnswerObject *)me;
    LancelotStateObject *s = (LancelotStateObject *)self->session;
    const char *p;
    Py_ssize_t n;
    PyObject *answer, *res;
    int enabled;

    if (s->closing || self->write == NULL || self->write == Py_None || !PyBytes_Check(data))
        Py_RETURN_FALSE;
    if (s->buffer != NULL && s->buffer != Py_None
        && (!PyBytes_Check(s->buffer) || PyBytes_Size(s->buffer) != 0))
        Py_RETURN_FALSE;
    p = PyBytes_AsString(data);
    n = PyBytes_Size(data);
    if (n < 1 || p[n - 1] != '?' || memchr(p, '?', (size_t)(n - 1)) != NULL)
        Py_RETURN_FALSE;
    if (s->asked == NULL || !PyDict_Check(s->asked))
        Py_RETURN_FALSE;
    answer = PyDict_GetItemWithError(s->asked, data); /* borrowed */
    if (answer == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_FALSE; /* spaced, or not in the book: Session.feed answers it */
    }
    Py_INCREF(answer);
    enabled = attr_true(self->obs, s_enabled);
    if (enabled < 0) {
        Py_DECREF(answer);
        return NULL;
    }
    if (enabled != (s->observe != NULL && s->observe != Py_None)) {
        Py_DECREF(answer); /* observing starts or stops: the server sets it up */
        Py_RETURN_FALSE;
    }
    if (enabled) {
        PyObject *size = PyLong_FromSsize_t(n + PyBytes_Size(answer));
        PyObject *observe = s->observe, *as = s->observed_as ? s->observed_as : Py_None;
        if (size == NULL) {
            Py_DECREF(answer);
            return NULL;
        }
        Py_INCREF(observe);
        if (Py_TYPE(observe) == pair_type && ((PairObject *)observe)->values == 2)
            res = pair_record((PairObject *)observe, as, size, data, answer, NULL);
        else
            res = PyObject_CallFunctionObjArgs(observe, as, size, data, answer, NULL);
        Py_DECREF(observe);
        Py_DECREF(size);
        if (res == NULL) {
            Py_DECREF(answer);
            return NULL;
        }
        Py_DECREF(res);
    }
    s->answered += 1;
    if (command_done(self->transport, self->done) < 0) {
        Py_DECREF(answer);
        return NULL;
    }
    res = PyObject_CallFunctionObjArgs(self->write, answer, NULL);
    Py_DECREF(answer);
    if (res == NULL)
        return NULL;
    Py_DECREF(res);
    Py_RETURN_TRUE;
}

static PyMethodDef QuickAnswer_methods[] = {
    {"ask", QuickAnswer_ask, METH_O,
     "ask(data) -> bool: answer a read that is one whole question as the book spells it\n"
     "(recorded if observing, counted, the command clock stopped, the answer written)\n"
     "and return True; anything else: False, nothing done."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef QuickAnswer_members[] = {
    {"session", T_OBJECT, offsetof(QuickAnswerObject, session), READONLY, "the Session"},
    {"observatory", T_OBJECT, offsetof(QuickAnswerObject, obs), READONLY,
     "the observatory whose enabled decides whether answers are recorded"},
    {"done", T_OBJECT, offsetof(QuickAnswerObject, done), READONLY,
     "command_done, for a transport that is not a zoo wrapper"},
    {"transport", T_OBJECT, offsetof(QuickAnswerObject, transport), 0,
     "the connection's transport, or None"},
    {"write", T_OBJECT, offsetof(QuickAnswerObject, write), 0,
     "how ask() sends, or None (then it answers nothing)"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot QuickAnswer_slots[] = {
    {Py_tp_doc, "QuickAnswer(session, observatory, done): a Lancelot connection's usual read\n"
                "in one call, in C (zoo.lancelot.QuickAnswer in Python)."},
    {Py_tp_new, QuickAnswer_new},
    {Py_tp_dealloc, QuickAnswer_dealloc},
    {Py_tp_traverse, QuickAnswer_traverse},
    {Py_tp_clear, QuickAnswer_clear},
    {Py_tp_methods, QuickAnswer_methods},
    {Py_tp_members, QuickAnswer_members},
    {0, NULL},
};

static PyType_Spec QuickAnswer_spec = {
    "zoo._twisted._speedups.QuickAnswer",
    sizeof(QuickAnswerObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    QuickAnswer_slots,
};

/* ---- EchoStep: an echo connection's count, and its step for a read ------------- */

/* zoo.echo.EchoStep in C: count a read and send it back as it came, unless it is as
 * long as grow_at (the server reads bigger chunks first) or there is no writer. */
typedef struct {
    PyObject_HEAD
    Py_ssize_t received;
    Py_ssize_t grow_at;
    PyObject *write; /* NULL reads as None */
} EchoStepObject;

static int
EchoStep_traverse(EchoStepObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->write);
    return 0;
}

static int
EchoStep_clear(EchoStepObject *self)
{
    Py_CLEAR(self->write);
    return 0;
}

static void
EchoStep_dealloc(EchoStepObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    PyObject_GC_UnTrack(self);
    EchoStep_clear(self);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
EchoStep_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {NULL};
    allocfunc alloc;
    EchoStepObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist))
        return NULL;
    alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (EchoStepObject *)alloc(type, 0);
    if (self != NULL)
        self->grow_at = PY_SSIZE_T_MAX;
    return (PyObject *)self;
}

static PyObject *
EchoStep_echo(PyObject *me, PyObject *data)
{
    EchoStepObject *self = (EchoStepObject *)me;
    Py_ssize_t n = PyObject_Size(data);
    PyObject *res;
    if (n < 0)
        return NULL;
    if (self->write == NULL || self->write == Py_None || n >= self->grow_at)
        Py_RETURN_FALSE;
    self->received += n;
    res = PyObject_CallFunctionObjArgs(self->write, data, NULL);
    if (res == NULL)
        return NULL;
    Py_DECREF(res);
    Py_RETURN_TRUE;
}

static PyMethodDef EchoStep_methods[] = {
    {"echo", EchoStep_echo, METH_O,
     "echo(data) -> bool: count data and send it back as it came, and return True;\n"
     "a read as long as grow_at, or no writer: False, nothing done."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef EchoStep_members[] = {
    {"received", T_PYSSIZET, offsetof(EchoStepObject, received), 0, "bytes received so far"},
    {"grow_at", T_PYSSIZET, offsetof(EchoStepObject, grow_at), 0,
     "a read at least this long is declined (the server grows its reads first)"},
    {"write", T_OBJECT, offsetof(EchoStepObject, write), 0,
     "how echo() sends, or None (then it declines)"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot EchoStep_slots[] = {
    {Py_tp_doc, "EchoStep(): an echo connection's byte count and its step for a read, in C\n"
                "(zoo.echo.EchoStep in Python)."},
    {Py_tp_new, EchoStep_new},
    {Py_tp_dealloc, EchoStep_dealloc},
    {Py_tp_traverse, EchoStep_traverse},
    {Py_tp_clear, EchoStep_clear},
    {Py_tp_methods, EchoStep_methods},
    {Py_tp_members, EchoStep_members},
    {0, NULL},
};

static PyType_Spec EchoStep_spec = {
    "zoo._twisted._speedups.EchoStep",
    sizeof(EchoStepObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    EchoStep_slots,
};

/* ---- transcripts: a RESP read with nothing to hide -------------------------- */

PyDoc_STRVAR(has_auth_doc,
"has_auth(data) -> bool\n\n"
"zoo.transcript.has_auth in C: whether data holds the letters auth in any case,\n"
"without the lower-cased copy b\"auth\" in data.lower() makes.");

/* Whether p[at - 3 .. at] spells auth in any case (at >= 3). */
static int
is_auth_at(const unsigned char *p, Py_ssize_t at)
{
    return (p[at] | 0x20) == 'h' && (p[at - 1] | 0x20) == 't' && (p[at - 2] | 0x20) == 'u'
        && (p[at - 3] | 0x20) == 'a';
}

/* Whether p[:n] holds auth in any case. */
static int
auth_in(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 3; /* where an h ending the word may be */
#if defined(__SSE2__)
    /* Sixteen places at a time: the four bytes ending at each, cased down (| 0x20),
     * compared with a, u, t and h, and the four answers and-ed. A 6 KiB read of
     * PUBLISHes is passed in a fifth of the eight-byte loop's time. */
    const __m128i low = _mm_set1_epi8(0x20), a = _mm_set1_epi8('a'), u = _mm_set1_epi8('u'),
                  t = _mm_set1_epi8('t'), h = _mm_set1_epi8('h');
    for (; i + 16 <= n; i += 16) {
        const unsigned char *q = p + i - 3;
        __m128i m = _mm_and_si128(
            _mm_and_si128(
                _mm_cmpeq_epi8(_mm_or_si128(_mm_loadu_si128((const __m128i *)q), low), a),
                _mm_cmpeq_epi8(_mm_or_si128(_mm_loadu_si128((const __m128i *)(q + 1)), low), u)),
            _mm_and_si128(
                _mm_cmpeq_epi8(_mm_or_si128(_mm_loadu_si128((const __m128i *)(q + 2)), low), t),
                _mm_cmpeq_epi8(_mm_or_si128(_mm_loadu_si128((const __m128i *)(q + 3)), low), h)));
        if (_mm_movemask_epi8(m))
            return 1;
    }
#endif
    /* b | 0x20 is 'a' only for 'a' and 'A' (and so for u, t, h): no other byte matches.
     * Eight bytes at a time, look for an h (any case) where one could end the word: the
     * bytes of x = word | 0x20.. ^ 'h'.. are zero there, and (x - 0x01..) & ~x & 0x80..
     * is nonzero if and only if some byte of x is (its flags may be wrong above the first
     * zero byte, so the candidates are checked one by one). A word without an h is eight
     * bytes passed with a few instructions, where the byte loop took a compare each. */
    for (; i + 8 <= n; i += 8) {
        uint64_t w, x;
        memcpy(&w, p + i, 8);
        x = (w | 0x2020202020202020ull) ^ 0x6868686868686868ull;
        if ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull)
            for (Py_ssize_t j = i; j < i + 8; j++)
                if (is_auth_at(p, j))
                    return 1;
    }
    for (; i < n; i++)
        if (is_auth_at(p, i))
            return 1;
    return 0;
}

static PyObject *
has_auth(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    int found;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    found = auth_in(view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(found);
}

/* Where the first CRLF lies wholly within buf[from:to] (to cut at n), or -1: Python's
 * buf.find(b"\r\n", from, to). */
static Py_ssize_t
find_crlf(const unsigned char *buf, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to)
{
    if (to > n)
        to = n;
    for (Py_ssize_t p = from; p + 1 < to; p++)
        if (buf[p] == '\r' && buf[p + 1] == '\n')
            return p;
    return -1;
}

/* Whether buf[from:to] is one or more ASCII digits (bytes.isdigit); their value in *value,
 * or more than limit if it is (no overflow). */
static int
digits_value(const unsigned char *buf, Py_ssize_t from, Py_ssize_t to, Py_ssize_t limit,
             Py_ssize_t *value)
{
    Py_ssize_t v = 0;
    if (to <= from)
        return 0;
    for (Py_ssize_t p = from; p < to; p++) {
        if (buf[p] < '0' || buf[p] > '9')
            return 0;
        if (v <= limit)
            v = v * 10 + (buf[p] - '0');
    }
    *value = v;
    return 1;
}

PyDoc_STRVAR(resp_whole_doc,
"resp_whole(data) -> str | None\n\n"
"zoo.transcript.Resp._whole in C: the name of the command data starts with, if the\n"
"read may be taken whole (a multibulk header, the whole bulk of the name, and no\n"
"auth in any case), else None.");

static PyObject *
resp_whole(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    const unsigned char *p;
    Py_ssize_t n, eol, at, count, size, start, stop;
    PyObject *res = NULL, *auth;
    char name[16];
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    p = view.buf;
    n = view.len;
    if (n < 1 || p[0] != '*')
        goto none;
    auth = has_auth(NULL, arg);
    if (auth == NULL)
        goto done;
    Py_DECREF(auth);
    if (auth == Py_True)
        goto none;
    eol = find_crlf(p, n, 1, 24);
    if (eol < 0 || !digits_value(p, 1, eol, n, &count) || count == 0)
        goto none;
    at = eol + 2;
    eol = find_crlf(p, n, at, at + 24);
    if (eol < 0 || p[at] != '$' || !digits_value(p, at + 1, eol, n, &size))
        goto none;
    start = eol + 2;
    if (size > n || start + size + 2 > n) /* the name's bulk, with its CRLF, is all here */
        goto none;
    stop = start + (size + 2 < 16 ? size + 2 : 16);
    while (stop > start && (p[stop - 1] == '\r' || p[stop - 1] == '\n'))
        stop--;
    for (Py_ssize_t i = start; i < stop; i++)
        name[i - start] = (p[i] >= 'a' && p[i] <= 'z') ? (char)(p[i] - 32) : (char)p[i];
    res = PyUnicode_DecodeASCII(name, stop - start, "replace");
    goto done;
none:
    res = Py_None;
    Py_INCREF(res);
done:
    PyBuffer_Release(&view);
    return res;
}

/* ---- pub-sub: a publisher's pipeline ------------------------------------------- */

/* The length line of a bulk inside a PUBLISH: digits from buf[start], ended by CRLF
 * whose CR is within 18 bytes (Python: find(b"\r\n", start, start + 20)), no leading
 * zero. Sets *length and *next (after the CRLF); 0 if the bytes are not that. */
static int
bulk_length(const char *buf, Py_ssize_t end, Py_ssize_t start, long long *length,
            Py_ssize_t *next)
{
    Py_ssize_t limit = start + 20 < end ? start + 20 : end, p;
    long long n = 0;
    for (p = start; p + 1 < limit; p++)
        if (buf[p] == '\r' && buf[p + 1] == '\n')
            break;
    if (p + 1 >= limit || p == start)
        return 0;
    if (buf[start] == '0' && p - start > 1)
        return 0;
    for (Py_ssize_t q = start; q < p; q++) {
        if (buf[q] < '0' || buf[q] > '9')
            return 0;
        n = n * 10 + (buf[q] - '0');
    }
    *length = n;
    *next = p + 2;
    return 1;
}

static const char publish_upper[] = "*3\r\n$7\r\nPUBLISH\r\n$";
static const char publish_lower[] = "*3\r\n$7\r\npublish\r\n$";
#define PUBLISH_HEAD 18

PyDoc_STRVAR(publishes_doc,
"publishes(buf, pos, out, max_bulk, names) -> int\n\n"
"zoo.pubsub.codec.scan_publishes in C: append the complete PUBLISH commands at pos\n"
"to out, as [names[0 or 1], channel, payload]; return where they end. A run of\n"
"commands to the same channel shares one channel object.");

static PyObject *
publishes(PyObject *self, PyObject *args)
{
    PyObject *obj, *out, *names, *argv = NULL, *last = NULL;
    Py_ssize_t pos, end;
    long long max_bulk, clen, plen;
    Py_buffer view;
    const char *buf;
    if (!PyArg_ParseTuple(args, "OnO!LO!", &obj, &pos, &PyList_Type, &out, &max_bulk,
                          &PyTuple_Type, &names))
        return NULL;
    if (PyTuple_Size(names) != 2) {
        PyErr_SetString(PyExc_ValueError, "names: two command names");
        return NULL;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    buf = view.buf;
    end = view.len;
    if (pos < 0)
        pos = 0;
    while (end - pos >= PUBLISH_HEAD) {
        Py_ssize_t cstart, cstop, pstart, pstop;
        int lower;
        if (memcmp(buf + pos, publish_upper, PUBLISH_HEAD) == 0)
            lower = 0;
        else if (memcmp(buf + pos, publish_lower, PUBLISH_HEAD) == 0)
            lower = 1;
        else
            break;
        if (!bulk_length(buf, end, pos + PUBLISH_HEAD, &clen, &cstart) || clen > max_bulk)
            break;
        cstop = cstart + (Py_ssize_t)clen;
        if (cstop + 2 >= end || buf[cstop + 2] != '$')
            break;
        if (!bulk_length(buf, end, cstop + 3, &plen, &pstart) || plen > max_bulk)
            break;
        pstop = pstart + (Py_ssize_t)plen;
        if (pstop + 2 > end)
            break;
        argv = PyList_New(3);
        if (argv == NULL)
            goto fail;
        {
            PyObject *name = PyTuple_GetItem(names, lower), *channel, *payload;
            /* the channel of the PUBLISH before, if it is the same (a pipeline's usual
             * case): one object for the run, kept by every event that records it */
            if (last != NULL && PyBytes_Size(last) == cstop - cstart
                && memcmp(PyBytes_AsString(last), buf + cstart, cstop - cstart) == 0) {
                channel = last;
                Py_INCREF(channel);
            } else if ((channel = PyBytes_FromStringAndSize(buf + cstart, cstop - cstart))
                       != NULL) {
                Py_XDECREF(last);
                last = channel;
                Py_INCREF(last);
            }
            payload = channel == NULL
                ? NULL : PyBytes_FromStringAndSize(buf + pstart, pstop - pstart);
            if (name == NULL || payload == NULL) {
                Py_XDECREF(channel);
                goto fail;
            }
            Py_INCREF(name);
            PyList_SetItem(argv, 0, name);
            PyList_SetItem(argv, 1, channel);
            PyList_SetItem(argv, 2, payload);
        }
        if (PyList_Append(out, argv) < 0)
            goto fail;
        Py_CLEAR(argv);
        pos = pstop + 2;
    }
    Py_XDECREF(last);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos);
fail:
    Py_XDECREF(last);
    Py_XDECREF(argv);
    PyBuffer_Release(&view);
    return NULL;
}

/* Write n >= 0 in decimal to out (room for 20 digits); return the digit count. */
static int
decimal(char *out, Py_ssize_t n)
{
    char tmp[24];
    int len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (int k = 0; k < len; k++)
        out[k] = tmp[len - 1 - k];
    return len;
}

/* A pushed frame: head (the array and its first bulk, "*3\r\n$7\r\nmessage\r\n"),
 * then each of parts as a bulk string. parts are bytes. */
static PyObject *
push_frame(const char *head, Py_ssize_t headlen, PyObject **parts, int count)
{
    char *data[4], *w;
    Py_ssize_t sizes[4], size = headlen;
    char digits[4][24];
    int ndigits[4];
    PyObject *frame;
    for (int k = 0; k < count; k++) {
        if (PyBytes_AsStringAndSize(parts[k], &data[k], &sizes[k]) < 0)
            return NULL;
        ndigits[k] = decimal(digits[k], sizes[k]);
        size += 1 + ndigits[k] + 2 + sizes[k] + 2;
    }
    frame = PyBytes_FromStringAndSize(NULL, size);
    if (frame == NULL)
        return NULL;
    w = PyBytes_AsString(frame);
    memcpy(w, head, headlen);
    w += headlen;
    for (int k = 0; k < count; k++) {
        *w++ = '$';
        memcpy(w, digits[k], ndigits[k]);
        w += ndigits[k];
        *w++ = '\r';
        *w++ = '\n';
        memcpy(w, data[k], sizes[k]);
        w += sizes[k];
        *w++ = '\r';
        *w++ = '\n';
    }
    return frame;
}

#define MESSAGE_HEAD "*3\r\n$7\r\nmessage\r\n"
#define PMESSAGE_HEAD "*4\r\n$8\r\npmessage\r\n"

#define SMALL_REPLIES 32
static PyObject *integer_replies[SMALL_REPLIES];
static PyObject *s_append;

/* ":n\r\n", shared for small n. */
static PyObject *
integer_reply(Py_ssize_t n)
{
    if (n >= 0 && n < SMALL_REPLIES) {
        if (integer_replies[n] == NULL &&
            (integer_replies[n] = PyBytes_FromFormat(":%zd\r\n", n)) == NULL)
            return NULL;
        Py_INCREF(integer_replies[n]);
        return integer_replies[n];
    }
    return PyBytes_FromFormat(":%zd\r\n", n);
}

static int
is_publish_name(PyObject *name)
{
    char *s;
    if (!PyBytes_Check(name) || PyBytes_Size(name) != 7)
        return 0;
    s = PyBytes_AsString(name);
    return memcmp(s, "PUBLISH", 7) == 0 || memcmp(s, "publish", 7) == 0;
}

/* Append frame to each receiver's pending output: list.append for a plain list,
 * the object's own append otherwise (a RESP3 client's _PushOut). */
static int
push_to(PyObject *subs, PyObject *frame)
{
    Py_ssize_t it = 0;
    PyObject *key, *value;
    int rc = 0;
    Py_INCREF(subs);
    while (PyDict_Next(subs, &it, &key, &value)) {
        if (PyList_CheckExact(value)) {
            if (PyList_Append(value, frame) < 0) {
                rc = -1;
                break;
            }
        } else {
            PyObject *res;
            Py_INCREF(value);
            res = PyObject_CallMethodObjArgs(value, s_append, frame, NULL);
            Py_DECREF(value);
            if (res == NULL) {
                rc = -1;
                break;
            }
            Py_DECREF(res);
        }
    }
    Py_DECREF(subs);
    return rc;
}

/* zoo.pubsub.core.deliver_patterns: a pmessage to the subscribers of each pattern
 * channel matches; how many, or -1 on error. patterns is (cache, matching). */
static Py_ssize_t
deliver_patterns(PyObject *patterns, PyObject *dirty, PyObject *channel, PyObject *payload,
                 PyObject **merged, int *ran)
{
    PyObject *cache, *found;
    Py_ssize_t n = 0, count;
    int skip;
    if (!PyTuple_Check(patterns) || PyTuple_Size(patterns) != 2 ||
        !PyDict_Check(cache = PyTuple_GetItem(patterns, 0))) {
        PyErr_SetString(PyExc_TypeError, "patterns: (cache, matching) or None");
        return -1;
    }
    found = PyDict_GetItemWithError(cache, channel);
    if (found != NULL)
        Py_INCREF(found);
    else if (PyErr_Occurred())
        return -1;
    else {
        *ran = 1; /* Python code: whatever was merged may be out of dirty now */
        Py_CLEAR(*merged);
        if ((found = PyObject_CallFunctionObjArgs(PyTuple_GetItem(patterns, 1), channel,
                                                  NULL)) == NULL)
            return -1;
    }
    if (!PyList_Check(found)) {
        Py_DECREF(found);
        PyErr_SetString(PyExc_TypeError, "matching: a list of (pattern, subscribers)");
        return -1;
    }
    count = PyList_Size(found);
    skip = found == *merged; /* the same patterns' subscribers, already in dirty */
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *pair = PyList_GetItem(found, k), *parts[3], *subs, *frame;
        int rc;
        if (!PyTuple_Check(pair) || PyTuple_Size(pair) != 2 ||
            !PyBytes_Check(parts[0] = PyTuple_GetItem(pair, 0)) ||
            !PyDict_Check(subs = PyTuple_GetItem(pair, 1))) {
            Py_DECREF(found);
            PyErr_SetString(PyExc_TypeError, "matching: a list of (pattern, subscribers)");
            return -1;
        }
        parts[1] = channel;
        parts[2] = payload;
        frame = push_frame(PMESSAGE_HEAD, sizeof PMESSAGE_HEAD - 1, parts, 3);
        if (frame == NULL) {
            Py_DECREF(found);
            return -1;
        }
        Py_INCREF(subs);
        rc = push_to(subs, frame);
        Py_DECREF(frame);
        if (rc == 0 && !skip)
            rc = PyDict_Update(dirty, subs);
        if (rc == 0)
            n += PyDict_Size(subs);
        Py_DECREF(subs);
        if (rc < 0) {
            Py_DECREF(found);
            return -1;
        }
    }
    if (!skip) {
        Py_XDECREF(*merged);
        *merged = found; /* our reference passes to it */
    } else
        Py_DECREF(found);
    return n;
}

PyDoc_STRVAR(publish_run_doc,
"publish_run(cmds, i, channels, dirty, client, out, patterns, record, session) -> int\n\n"
"zoo.pubsub.core.publish_run in C: run the PUBLISH commands of cmds from i on;\n"
"return the index of the first other one.");

static PyObject *
publish_run(PyObject *self, PyObject *args)
{
    PyObject *cmds, *channels, *dirty, *client, *out, *patterns, *record, *session;
    /* The subscribers last added to dirty: a run of PUBLISHes to one channel adds them
     * once (nothing in the run takes them out of dirty or changes who subscribes). */
    PyObject *merged = NULL;
    PyObject *merged_found = NULL; /* the same for the patterns a channel matched */
    Py_ssize_t i, end;
    if (!PyArg_ParseTuple(args, "O!nO!O!OO!OOO", &PyList_Type, &cmds, &i, &PyDict_Type,
                          &channels, &PyDict_Type, &dirty, &client, &PyList_Type, &out,
                          &patterns, &record, &session))
        return NULL;
    end = PyList_Size(cmds);
    if (i < 0)
        i = 0;
    for (; i < end; i++) {
        PyObject *argv = PyList_GetItem(cmds, i), *channel, *payload, *subs, *reply;
        Py_ssize_t n = 0;
        if (argv == NULL)
            return NULL;
        if (!PyList_Check(argv) || PyList_Size(argv) != 3 ||
            !is_publish_name(PyList_GetItem(argv, 0)))
            break;
        channel = PyList_GetItem(argv, 1);
        payload = PyList_GetItem(argv, 2);
        if (!PyBytes_Check(channel) || !PyBytes_Check(payload))
            break; /* the parser makes bytes; anything else goes the general way */
        Py_INCREF(argv); /* the list stays ours while Python code runs below */
        subs = PyDict_GetItemWithError(channels, channel);
        if (subs == NULL && PyErr_Occurred())
            goto fail;
        if (subs != NULL && PyDict_Check(subs) && (n = PyDict_Size(subs)) > 0) {
            PyObject *parts[2] = {channel, payload};
            PyObject *frame = push_frame(MESSAGE_HEAD, sizeof MESSAGE_HEAD - 1, parts, 2);
            int rc;
            if (frame == NULL)
                goto fail;
            Py_INCREF(subs);
            rc = push_to(subs, frame);
            Py_DECREF(frame);
            if (rc == 0 && subs != merged) {
                rc = PyDict_Update(dirty, subs);
                Py_XDECREF(merged);
                merged = subs; /* our reference to subs passes to merged */
            } else
                Py_DECREF(subs);
            if (rc < 0)
                goto fail;
        }
        if (patterns != Py_None) {
            int ran = 0;
            Py_ssize_t more = deliver_patterns(patterns, dirty, channel, payload, &merged_found,
                                               &ran);
            if (ran)
                Py_CLEAR(merged);
            if (more < 0)
                goto fail;
            n += more;
        }
        if (PyList_Size(out) == 0 && PyDict_SetItem(dirty, client, out) < 0)
            goto fail;
        reply = integer_reply(n);
        if (reply == NULL)
            goto fail;
        if (PyList_Append(out, reply) < 0) {
            Py_DECREF(reply);
            goto fail;
        }
        Py_DECREF(reply);
        if (record != Py_None) {
            PyObject *count = PyLong_FromSsize_t(n), *size = NULL, *res = NULL;
            if (count != NULL)
                size = PyLong_FromSsize_t(PyBytes_Size(channel) + PyBytes_Size(payload));
            if (size != NULL) {
                if (Py_TYPE(record) == pair_type && ((PairObject *)record)->values == 3
                    && !((PairObject *)record)->seq->live)
                    /* stored, not delivered: no code that could change who subscribes */
                    res = pair_record((PairObject *)record, session, size, channel, payload,
                                      count);
                else {
                    /* a live delivery (a stream, a wait-for's callbacks) may run any code */
                    Py_CLEAR(merged);
                    Py_CLEAR(merged_found);
                    res = PyObject_CallFunctionObjArgs(record, session, size, channel, payload,
                                                       count, NULL);
                }
            }
            Py_XDECREF(count);
            Py_XDECREF(size);
            if (res == NULL)
                goto fail;
            Py_DECREF(res);
        }
        Py_DECREF(argv);
        continue;
    fail:
        Py_DECREF(argv);
        Py_XDECREF(merged);
        Py_XDECREF(merged_found);
        return NULL;
    }
    Py_XDECREF(merged);
    Py_XDECREF(merged_found);
    return PyLong_FromSsize_t(i);
}

static PyMethodDef methods[] = {
    {"dispatch", dispatch, METH_VARARGS, dispatch_doc},
    {"relay", relay, METH_VARARGS, relay_doc},
    {"step", step, METH_VARARGS, step_doc},
    {"has_auth", has_auth, METH_O, has_auth_doc},
    {"resp_whole", resp_whole, METH_O, resp_whole_doc},
    {"publishes", publishes, METH_VARARGS, publishes_doc},
    {"publish_run", publish_run, METH_VARARGS, publish_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "zoo._twisted._speedups",
    "zoo's hottest loops in C (see zoo._twisted.speedups).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

#define INTERN(var, text)                                                                   \
    if ((var = PyUnicode_InternFromString(text)) == NULL)                                   \
        return NULL;

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *m, *writer;

    INTERN(s_bufferSize, "bufferSize");
    INTERN(s_protocol, "protocol");
    INTERN(s_dataReceived, "dataReceived");
    INTERN(s_doRead, "doRead");
    INTERN(s_connected, "connected");
    INTERN(s_disconnecting, "disconnecting");
    INTERN(s_TLS, "TLS");
    INTERN(s_tempDataBuffer, "_tempDataBuffer");
    INTERN(s_offset, "offset");
    INTERN(s_dataBuffer, "dataBuffer");
    INTERN(s_writeDisconnected, "_writeDisconnected");
    INTERN(s_activity, "activity");
    INTERN(s_bytes_out, "bytes_out");
    INTERN(s_command_sweeps, "command_sweeps");
    INTERN(s_wrappedProtocol, "wrappedProtocol");
    INTERN(s_watch, "watch");
    INTERN(s_bytes_in, "bytes_in");
    INTERN(s_record_in, "record_in");
    INTERN(s_step, "_step");
    INTERN(s_append, "append");
    if ((one = PyLong_FromLong(1)) == NULL || (zero = PyLong_FromLong(0)) == NULL)
        return NULL;
    m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    INTERN(s_sequence, "_sequence");
    writer = PyType_FromSpec(&Sequence_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "Sequence", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    sequence_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&Writer_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "Writer", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(writer);
    writer = PyType_FromSpec(&RingIter_spec);
    if (writer == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    ringiter_type = (PyTypeObject *)writer; /* this keeps it */
    writer = PyType_FromSpec(&Ring_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "Ring", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    ring_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&Pair_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "Pair", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    pair_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    INTERN(s_enabled, "enabled");
    if ((sweeps_off = PyLong_FromLong(-1)) == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    writer = PyType_FromSpec(&Activity_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "Activity", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    activity_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&Counts_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "Counts", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    counts_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&ConnState_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "ConnState", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    connstate_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&LancelotState_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "LancelotState", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    lancelot_state_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&QuickAnswer_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "QuickAnswer", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    quickanswer_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&WholeBlocks_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "WholeBlocks", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    wholeblocks_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&EchoStep_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "EchoStep", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    echostep_type = (PyTypeObject *)writer; /* the module keeps it, and so does this */
    writer = PyType_FromSpec(&Chunks_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "Chunks", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(writer);
    INTERN(s_skip, "_skip");
    INTERN(s_body, "_body");
    INTERN(s_off, "_off");
    INTERN(s_in_sasl, "_in_sasl");
    INTERN(s_continued, "_continued");
    INTERN(s_want_body, "_want_body");
    INTERN(s_s_start, "_s_start");
    INTERN(s_tail, "_tail");
    if ((verb_labels = PyDict_New()) == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    INTERN(s_short, "_short");
    INTERN(s_literals, "literals");
    INTERN(s_tagged, "tagged");
    INTERN(s_secrets, "secrets");
    INTERN(s_sasl, "sasl");
    INTERN(s_body_on, "body");
    INTERN(s_codes, "_codes");
    INTERN(s_client, "client");
    INTERN(s_server, "server");
    writer = PyType_FromSpec(&LineSide_spec);
    if (writer == NULL || PyModule_AddObjectRef(m, "LineSide", writer) < 0) {
        Py_XDECREF(writer);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(writer);
    if (PyModule_AddIntConstant(m, "READ_SIZE", READ_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
