/*
 * The C ABI driven from C, as an embedder would.
 *
 *   rune_test serve   an MCP server on stdio whose tools are the C callbacks below
 *   rune_test         the test: starts "rune_test serve" through rune_client_create("stdio:…")
 *                     and calls its tools, then serves the same tools in-process over TCP and
 *                     HTTP, and feeds bad input to every function
 *
 * Exits 0 when every check passed; each failed check prints its line and the last error.
 * tests/c_abi.rs compiles it against include/rune.h and librune.so, and runs it directly and
 * under valgrind.
 */
#define _POSIX_C_SOURCE 200809L

#include "rune.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int checks = 0;
static int failures = 0;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        checks++;                                                                         \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,       \
                    __LINE__, #cond, rune_last_error());                                  \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

#define CHECK_STATUS(expr, want)                                                          \
    do {                                                                                  \
        checks++;                                                                         \
        rune_status s_ = (expr);                                                          \
        if (s_ != (want)) {                                                               \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",      \
                    __FILE__, __LINE__, #expr, rune_status_name(s_), rune_status_name(want), \
                    rune_last_error());                                                   \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

#define CONTAINS(haystack, needle) ((haystack) != NULL && strstr((haystack), (needle)) != NULL)

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- the tools */

/* The number after "key": in a compact JSON object (good enough for these tests). */
static double json_number(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    return at ? strtod(at + strlen(pattern), NULL) : 0.0;
}

/* The string after "key": (no escapes), copied into out. */
static void json_string(const char *json, const char *key, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *at = strstr(json, pattern);
    out[0] = '\0';
    if (!at) return;
    at += strlen(pattern);
    size_t n = 0;
    while (at[n] && at[n] != '"' && n + 1 < size) n++;
    memcpy(out, at, n);
    out[n] = '\0';
}

/* user_data of every tool: counts calls; freed by Rune through free_counter. */
struct counter {
    atomic_long calls;
};

static atomic_int counters_freed = 0;
/* Per call of the slow tool, by the "id" in its arguments: stale calls of earlier checks
 * (which may start late on a loaded machine) cannot be mistaken for the one a check made. */
enum { SLOW_IDS = 8 };
static atomic_int slow_started[SLOW_IDS];
static atomic_int slow_finished[SLOW_IDS];
static atomic_int slow_saw_cancel[SLOW_IDS];
static rune_tool_call *_Atomic stale_call = NULL;

static void free_counter(void *user_data) {
    free(user_data);
    atomic_fetch_add(&counters_freed, 1);
}

static void count(void *user_data) {
    atomic_fetch_add(&((struct counter *)user_data)->calls, 1);
}

/* add: {"a": number, "b": number} -> text and structuredContent {"sum": a+b}. */
static void add_tool(void *user_data, const char *args, rune_tool_call *call) {
    count(user_data);
    double sum = json_number(args, "a") + json_number(args, "b");
    char result[256];
    snprintf(result, sizeof result,
             "{\"content\":[{\"type\":\"text\",\"text\":\"%g\"}],\"structuredContent\":{\"sum\":%g}}",
             sum, sum);
    /* result is on this stack frame: Rune copies it before returning. */
    if (rune_tool_call_set_result(call, result) != RUNE_OK) {
        rune_tool_call_set_error(call, rune_last_error());
    }
}

/* greet: {"name": string} -> "hello, NAME". */
static void greet_tool(void *user_data, const char *args, rune_tool_call *call) {
    count(user_data);
    char name[64], text[128];
    json_string(args, "name", name, sizeof name);
    snprintf(text, sizeof text, "hello, %s", name);
    rune_tool_call_set_text(call, text);
}

/* garbage: answers with text that is not JSON; the client must get an error result. */
static void garbage_tool(void *user_data, const char *args, rune_tool_call *call) {
    (void)args;
    count(user_data);
    if (rune_tool_call_set_result(call, "{\"content\": [oops") != RUNE_ERROR_INVALID_JSON) {
        rune_tool_call_set_text(call, "UNEXPECTED: garbage was accepted");
    }
}

/* not_a_result: valid JSON, but not a CallToolResult. */
static void not_a_result_tool(void *user_data, const char *args, rune_tool_call *call) {
    (void)args;
    count(user_data);
    if (rune_tool_call_set_result(call, "[1,2,3]") != RUNE_ERROR_INVALID_JSON) {
        rune_tool_call_set_text(call, "UNEXPECTED: an array was accepted");
    }
}

/* bad_utf8: answers with bytes that are not UTF-8. */
static void bad_utf8_tool(void *user_data, const char *args, rune_tool_call *call) {
    (void)args;
    count(user_data);
    if (rune_tool_call_set_text(call, "caf\xe9") != RUNE_ERROR_INVALID_UTF8) {
        rune_tool_call_set_text(call, "UNEXPECTED: latin-1 was accepted");
    }
}

/* silent: sets no result at all. */
static void silent_tool(void *user_data, const char *args, rune_tool_call *call) {
    (void)args;
    (void)call;
    count(user_data);
}

/* fail: a tool failure the model should see. */
static void fail_tool(void *user_data, const char *args, rune_tool_call *call) {
    (void)args;
    count(user_data);
    rune_tool_call_set_error(call, "the disk is on fire");
}

/* misuse: hands the setters pointers that are not its call; keeps `call` for later. */
static void misuse_tool(void *user_data, const char *args, rune_tool_call *call) {
    (void)args;
    count(user_data);
    int ok = rune_tool_call_set_text(NULL, "x") == RUNE_ERROR_NULL_POINTER &&
             rune_tool_call_set_text((rune_tool_call *)0x1234, "x") == RUNE_ERROR_INVALID_HANDLE &&
             rune_tool_call_set_text(call, NULL) == RUNE_ERROR_NULL_POINTER &&
             !rune_tool_call_is_cancelled(NULL);
    atomic_store(&stale_call, call);
    rune_tool_call_set_text(call, ok ? "misuse refused" : "UNEXPECTED: misuse accepted");
}

/* slow: {"ms": number, "id": 0..7} sleeps that long in 5 ms steps, stopping early when
 * cancelled; records what happened under its id. */
static void slow_tool(void *user_data, const char *args, rune_tool_call *call) {
    count(user_data);
    long ms = (long)json_number(args, "ms");
    int id = (int)json_number(args, "id") % SLOW_IDS;
    atomic_store(&slow_started[id], 1);
    for (long waited = 0; waited < ms; waited += 5) {
        if (rune_tool_call_is_cancelled(call)) {
            atomic_store(&slow_saw_cancel[id], 1);
            break;
        }
        sleep_ms(5);
    }
    rune_tool_call_set_text(call, "slept");
    atomic_store(&slow_finished[id], 1);
}

static void wait_started(int id) {
    for (int i = 0; i < 4000 && !atomic_load(&slow_started[id]); i++) sleep_ms(5);
    CHECK(atomic_load(&slow_started[id]) == 1);
}

static const char *ADD_SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"},\"b\":{\"type\":\"number\"}},"
    "\"required\":[\"a\",\"b\"]}";
static const char *GREET_SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}";

/* Registers every tool, each with its own counter; returns the counter of "greet". */
static struct counter *register_tools(rune_server *server) {
    struct {
        const char *name, *description, *schema;
        rune_tool_callback callback;
    } tools[] = {
        {"add", "Adds two numbers", ADD_SCHEMA, add_tool},
        {"greet", "Greets someone", GREET_SCHEMA, greet_tool},
        {"garbage", "Answers garbage", NULL, garbage_tool},
        {"not_a_result", "Answers an array", NULL, not_a_result_tool},
        {"bad_utf8", "Answers Latin-1", NULL, bad_utf8_tool},
        {"silent", "Answers nothing", NULL, silent_tool},
        {"fail", "Always fails", NULL, fail_tool},
        {"misuse", "Misuses the call handle", NULL, misuse_tool},
        {"slow", "Sleeps", NULL, slow_tool},
    };
    struct counter *greet = NULL;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        struct counter *c = calloc(1, sizeof *c);
        CHECK_STATUS(rune_server_register_tool_ex(server, tools[i].name, tools[i].description,
                                                  tools[i].schema, tools[i].callback, c,
                                                  free_counter),
                     RUNE_OK);
        if (strcmp(tools[i].name, "greet") == 0) greet = c;
    }
    return greet;
}

/* ---------------------------------------------------------------- serve mode */

static int serve(void) {
    rune_server *server = NULL;
    if (rune_server_create("rune-test-server", "1.2.3", &server) != RUNE_OK) {
        fprintf(stderr, "serve: %s\n", rune_last_error());
        return 1;
    }
    register_tools(server);
    rune_status s = rune_server_run(server);
    if (s != RUNE_OK) fprintf(stderr, "serve: rune_server_run: %s\n", rune_last_error());
    rune_server_destroy(server);
    return s == RUNE_OK && failures == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- the checks */

/* Calls `tool` and returns the result JSON (to free), or NULL after a failed check. */
static char *call_ok(rune_client *client, const char *tool, const char *params) {
    char *result = NULL;
    rune_status s = rune_client_call_tool(client, tool, params, &result);
    checks++;
    if (s != RUNE_OK) {
        fprintf(stderr, "call %s(%s): %s: %s\n", tool, params ? params : "NULL",
                rune_status_name(s), rune_last_error());
        failures++;
        return NULL;
    }
    return result;
}

static void check_error_result(rune_client *client, const char *tool, const char *needle) {
    char *r = call_ok(client, tool, "{}");
    CHECK(CONTAINS(r, "\"isError\":true"));
    CHECK(CONTAINS(r, needle));
    if (r && !CONTAINS(r, needle)) fprintf(stderr, "  %s answered %s\n", tool, r);
    rune_string_free(r);
}

static void check_versions(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", RUNE_VERSION_MAJOR, RUNE_VERSION_MINOR,
             RUNE_VERSION_PATCH);
    CHECK(strcmp(rune_version(), expected) == 0);
    CHECK(rune_abi_version() == RUNE_ABI_VERSION);
    CHECK(strcmp(rune_status_name(RUNE_ERROR_TIMEOUT), "RUNE_ERROR_TIMEOUT") == 0);
}

/* NULL, bad UTF-8, bad JSON and dead handles everywhere: codes, never crashes. */
static void check_bad_input(void) {
    rune_client *client = (rune_client *)0x1; /* must be reset to NULL on failure */
    CHECK_STATUS(rune_client_create(NULL, &client), RUNE_ERROR_NULL_POINTER);
    CHECK(client == NULL);
    CHECK(strstr(rune_last_error(), "url") != NULL);
    CHECK_STATUS(rune_client_create("tcp://127.0.0.1:1", NULL), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_client_create("stdio:caf\xe9", &client), RUNE_ERROR_INVALID_UTF8);
    CHECK_STATUS(rune_client_create("ftp://example.com", &client), RUNE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(rune_client_create("stdio:", &client), RUNE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(rune_client_create("stdio:'unbalanced", &client), RUNE_ERROR_INVALID_ARGUMENT);
    /* A program that cannot start: TRANSPORT (under valgrind --trace-children, valgrind
     * itself starts and exits with 127 instead, so the connection is CLOSED). */
    rune_status s = rune_client_create("stdio:/nonexistent/rune-test-binary", &client);
    CHECK(s == RUNE_ERROR_TRANSPORT || s == RUNE_ERROR_CLOSED);
    CHECK(client == NULL);

    char *out = (char *)0x1;
    CHECK_STATUS(rune_client_call_tool(NULL, "add", "{}", &out), RUNE_ERROR_NULL_POINTER);
    CHECK(out == NULL);
    CHECK_STATUS(rune_client_call_tool((rune_client *)0xdeadbeef, "add", "{}", &out),
                 RUNE_ERROR_INVALID_HANDLE);
    CHECK_STATUS(rune_client_list_tools(NULL, &out), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_client_request((rune_client *)0x40, "ping", NULL, &out),
                 RUNE_ERROR_INVALID_HANDLE);
    CHECK_STATUS(rune_client_server_info(NULL, NULL), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_client_set_timeout(NULL, 5), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_client_destroy(NULL), RUNE_OK);
    CHECK_STATUS(rune_client_destroy((rune_client *)0xdeadbeef), RUNE_ERROR_INVALID_HANDLE);

    rune_server *server = NULL;
    CHECK_STATUS(rune_server_create(NULL, NULL, NULL), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_server_create("caf\xe9", NULL, &server), RUNE_ERROR_INVALID_UTF8);
    CHECK(server == NULL);
    CHECK_STATUS(rune_server_create(NULL, NULL, &server), RUNE_OK);
    CHECK_STATUS(rune_server_register_tool(server, "t", NULL, NULL, NULL, NULL),
                 RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_server_register_tool(server, NULL, NULL, NULL, greet_tool, NULL),
                 RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_server_register_tool(server, "", NULL, NULL, greet_tool, NULL),
                 RUNE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(rune_server_register_tool(server, "t", NULL, "{\"type\":", greet_tool, NULL),
                 RUNE_ERROR_INVALID_JSON);
    CHECK_STATUS(rune_server_register_tool(server, "t", NULL, "[1]", greet_tool, NULL),
                 RUNE_ERROR_INVALID_JSON);
    CHECK_STATUS(rune_server_register_tool(server, "t", "caf\xe9", NULL, greet_tool, NULL),
                 RUNE_ERROR_INVALID_UTF8);
    CHECK_STATUS(rune_server_register_tool(NULL, "t", NULL, NULL, greet_tool, NULL),
                 RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_server_unregister_tool(server, "never-registered"),
                 RUNE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(rune_server_listen(server, NULL, NULL), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_server_listen(server, "ftp://127.0.0.1:0", NULL),
                 RUNE_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(rune_server_listen(server, "tcp://256.0.0.1:0", NULL), RUNE_ERROR_IO);
    CHECK_STATUS(rune_server_stop(NULL), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_server_run((rune_server *)0xdeadbeef), RUNE_ERROR_INVALID_HANDLE);
    /* Destroying twice is refused, not a double free; so is using a destroyed handle. */
    CHECK_STATUS(rune_server_destroy(server), RUNE_OK);
    CHECK_STATUS(rune_server_destroy(server), RUNE_ERROR_INVALID_HANDLE);
    CHECK_STATUS(rune_server_register_tool(server, "t", NULL, NULL, greet_tool, NULL),
                 RUNE_ERROR_INVALID_HANDLE);
    CHECK_STATUS(rune_server_destroy(NULL), RUNE_OK);

    CHECK_STATUS(rune_tool_call_set_text(NULL, "x"), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_tool_call_set_result((rune_tool_call *)0x1234, "{}"),
                 RUNE_ERROR_INVALID_HANDLE);
    CHECK_STATUS(rune_tool_call_set_error((rune_tool_call *)0x1234, "x"),
                 RUNE_ERROR_INVALID_HANDLE);
    CHECK(!rune_tool_call_is_cancelled((rune_tool_call *)0x1234));
    rune_string_free(NULL);
}

/* Everything a client does with a server that runs the tools above, wherever it runs. */
static void check_client(rune_client *client) {
    char *tools = NULL;
    CHECK_STATUS(rune_client_list_tools(client, &tools), RUNE_OK);
    CHECK(CONTAINS(tools, "\"name\":\"add\""));
    CHECK(CONTAINS(tools, "\"name\":\"greet\""));
    CHECK(CONTAINS(tools, "Adds two numbers"));
    rune_string_free(tools);

    char *info = NULL;
    CHECK_STATUS(rune_client_server_info(client, &info), RUNE_OK);
    CHECK(CONTAINS(info, "\"name\":\"rune-test-server\""));
    rune_string_free(info);

    char *r = call_ok(client, "add", "{\"a\": 2, \"b\": 3.5}");
    CHECK(CONTAINS(r, "\"text\":\"5.5\""));
    CHECK(CONTAINS(r, "\"sum\":5.5"));
    rune_string_free(r);

    r = call_ok(client, "greet", "{\"name\":\"Ada\"}");
    CHECK(CONTAINS(r, "\"text\":\"hello, Ada\""));
    CHECK(!CONTAINS(r, "\"isError\":true"));
    rune_string_free(r);

    /* Arguments the schema refuses never reach the callback: an error result. */
    r = call_ok(client, "add", "{\"a\": \"two\", \"b\": 1}");
    CHECK(CONTAINS(r, "\"isError\":true"));
    rune_string_free(r);

    /* Callbacks answering badly, or not at all: error results, not crashes. */
    check_error_result(client, "garbage", "invalid result");
    check_error_result(client, "not_a_result", "invalid result");
    check_error_result(client, "bad_utf8", "UTF-8");
    check_error_result(client, "silent", "without setting a result");
    check_error_result(client, "fail", "the disk is on fire");
    r = call_ok(client, "misuse", NULL);
    CHECK(CONTAINS(r, "misuse refused"));
    rune_string_free(r);

    /* Bad input from the client side. */
    char *out = (char *)0x1;
    CHECK_STATUS(rune_client_call_tool(client, "add", "{\"a\":", &out), RUNE_ERROR_INVALID_JSON);
    CHECK(out == NULL);
    CHECK_STATUS(rune_client_call_tool(client, "add", "[1, 2]", &out), RUNE_ERROR_INVALID_JSON);
    CHECK_STATUS(rune_client_call_tool(client, "add", "{} trailing", &out), RUNE_ERROR_INVALID_JSON);
    CHECK_STATUS(rune_client_call_tool(client, NULL, "{}", &out), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_client_call_tool(client, "add", "{}", NULL), RUNE_ERROR_NULL_POINTER);
    CHECK_STATUS(rune_client_call_tool(client, "gr\xe9" "et", "{}", &out), RUNE_ERROR_INVALID_UTF8);
    CHECK_STATUS(rune_client_call_tool(client, "no_such_tool", "{}", &out), RUNE_ERROR_RPC);
    CHECK(strstr(rune_last_error(), "no_such_tool") != NULL);
    CHECK_STATUS(rune_client_request(client, NULL, NULL, &out), RUNE_ERROR_NULL_POINTER);

    r = NULL;
    CHECK_STATUS(rune_client_request(client, "ping", NULL, &r), RUNE_OK);
    CHECK(r != NULL && strcmp(r, "{}") == 0);
    rune_string_free(r);

    /* A timeout fails the call, cancels it at the server, and leaves the client usable. */
    CHECK_STATUS(rune_client_set_timeout(client, 300), RUNE_OK);
    CHECK_STATUS(rune_client_call_tool(client, "slow", "{\"ms\": 20000, \"id\": 1}", &out),
                 RUNE_ERROR_TIMEOUT);
    CHECK_STATUS(rune_client_set_timeout(client, 60000), RUNE_OK);
    r = call_ok(client, "greet", "{\"name\":\"again\"}");
    CHECK(CONTAINS(r, "hello, again"));
    rune_string_free(r);
}

/* ------------------------------------------------ concurrency and lifetimes */

struct caller {
    rune_client *client;
    int ok;
    rune_status status;
};

static void *call_many(void *arg) {
    struct caller *c = arg;
    for (int i = 0; i < 20; i++) {
        char params[64], expected[64], *r = NULL;
        snprintf(params, sizeof params, "{\"a\": %d, \"b\": 1000}", i);
        snprintf(expected, sizeof expected, "\"sum\":%d", i + 1000);
        if (rune_client_call_tool(c->client, "add", params, &r) == RUNE_OK && CONTAINS(r, expected))
            c->ok++;
        rune_string_free(r);
    }
    return NULL;
}

static void *call_slow(void *arg) {
    struct caller *c = arg;
    char *r = NULL;
    /* 20 s: it ends early only if destroy cancels it. */
    c->status = rune_client_call_tool(c->client, "slow", "{\"ms\": 20000, \"id\": 3}", &r);
    rune_string_free(r);
    return NULL;
}

static void *call_slow_long(void *arg) {
    struct caller *c = arg;
    char *r = NULL;
    c->status = rune_client_call_tool(c->client, "slow", "{\"ms\": 3000, \"id\": 2}", &r);
    rune_string_free(r);
    return NULL;
}

static void check_in_process(void) {
    rune_server *server = NULL;
    CHECK_STATUS(rune_server_create("rune-test-server", "1.2.3", &server), RUNE_OK);
    struct counter *greets = register_tools(server);

    char *url = NULL;
    CHECK_STATUS(rune_server_listen(server, "tcp://127.0.0.1:0", &url), RUNE_OK);
    CHECK(url != NULL && strncmp(url, "tcp://127.0.0.1:", 16) == 0);

    rune_client *client = NULL;
    CHECK_STATUS(rune_client_create(url, &client), RUNE_OK);
    if (!client) return;

    /* Destroying a client while another thread waits on it: that call returns CLOSED at
     * once instead of waiting for its answer. */
    rune_client *doomed = NULL;
    CHECK_STATUS(rune_client_create(url, &doomed), RUNE_OK);
    rune_string_free(url);
    if (doomed) {
        struct caller waiting = {doomed, 0, RUNE_OK};
        pthread_t waiter;
        pthread_create(&waiter, NULL, call_slow_long, &waiting);
        wait_started(2);
        CHECK_STATUS(rune_client_destroy(doomed), RUNE_OK);
        pthread_join(waiter, NULL);
        CHECK_STATUS(waiting.status, RUNE_ERROR_CLOSED);
        /* The call returned while its callback still sleeps (3 s). */
        CHECK(atomic_load(&slow_finished[2]) == 0);
    }

    check_client(client);
    /* In-process we can see the callbacks' side: */
    CHECK(atomic_load(&greets->calls) == 2);        /* user_data reached the callback */
    for (int i = 0; i < 2000 && !atomic_load(&slow_saw_cancel[1]); i++) sleep_ms(5);
    CHECK(atomic_load(&slow_saw_cancel[1]) == 1);   /* the timed-out call was cancelled */
    /* The call handle the misuse tool kept is dead now that its callback returned. */
    CHECK_STATUS(rune_tool_call_set_text(atomic_load(&stale_call), "late"),
                 RUNE_ERROR_INVALID_HANDLE);

    /* One client, four threads, concurrent calls. */
    pthread_t threads[4];
    struct caller callers[4];
    for (int i = 0; i < 4; i++) {
        callers[i] = (struct caller){client, 0, RUNE_OK};
        pthread_create(&threads[i], NULL, call_many, &callers[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(callers[i].ok == 20);
    }

    /* Tools registered while serving are seen by connected clients. */
    CHECK_STATUS(rune_server_register_tool(server, "late", NULL, NULL, greet_tool, greets),
                 RUNE_OK);
    char *tools = NULL;
    CHECK_STATUS(rune_client_list_tools(client, &tools), RUNE_OK);
    CHECK(CONTAINS(tools, "\"name\":\"late\""));
    rune_string_free(tools);
    CHECK_STATUS(rune_server_unregister_tool(server, "late"), RUNE_OK);

    /* Destroy while a callback runs: destroy waits for it, later calls fail cleanly. */
    struct caller slow = {client, 0, RUNE_OK};
    pthread_t slow_thread;
    pthread_create(&slow_thread, NULL, call_slow, &slow);
    wait_started(3);
    int freed_before = atomic_load(&counters_freed);
    CHECK_STATUS(rune_server_destroy(server), RUNE_OK);
    CHECK(atomic_load(&slow_finished[3]) == 1);   /* destroy waited for the callback */
    CHECK(atomic_load(&slow_saw_cancel[3]) == 1); /* which saw the destroy as a cancellation */
    pthread_join(slow_thread, NULL);
    CHECK(slow.status == RUNE_OK || slow.status == RUNE_ERROR_CLOSED);
    /* Every tool's user_data is freed (shortly: the last reference may be on a Rune thread). */
    for (int i = 0; i < 400 && atomic_load(&counters_freed) < freed_before + 9; i++) sleep_ms(5);
    CHECK(atomic_load(&counters_freed) == freed_before + 9);
    CHECK_STATUS(rune_server_destroy(server), RUNE_ERROR_INVALID_HANDLE);

    char *r = NULL;
    rune_status after = rune_client_call_tool(client, "greet", "{\"name\":\"x\"}", &r);
    CHECK(after == RUNE_ERROR_CLOSED || after == RUNE_ERROR_TRANSPORT);
    CHECK(r == NULL);
    CHECK_STATUS(rune_client_destroy(client), RUNE_OK);
    CHECK_STATUS(rune_client_destroy(client), RUNE_ERROR_INVALID_HANDLE);
    CHECK_STATUS(rune_client_list_tools(client, &r), RUNE_ERROR_INVALID_HANDLE);
}

/* Streamable HTTP in-process, and rune_server_stop from another thread. */
static void *stop_server(void *server) {
    rune_server_stop(server);
    return NULL;
}

static void check_http_and_stop(void) {
    rune_server *server = NULL;
    CHECK_STATUS(rune_server_create("rune-test-server", "1.2.3", &server), RUNE_OK);
    register_tools(server);
    char *url = NULL;
    CHECK_STATUS(rune_server_listen(server, "http://127.0.0.1:0/mcp", &url), RUNE_OK);
    CHECK(CONTAINS(url, "/mcp"));
    rune_client *client = NULL;
    CHECK_STATUS(rune_client_create(url, &client), RUNE_OK);
    char *r = call_ok(client, "greet", "{\"name\":\"http\"}");
    CHECK(CONTAINS(r, "hello, http"));
    rune_string_free(r);
    CHECK_STATUS(rune_client_destroy(client), RUNE_OK);

    pthread_t t;
    pthread_create(&t, NULL, stop_server, server);
    pthread_join(t, NULL);
    /* The listener closes: new connections are refused (give it a moment to close). */
    rune_status s = RUNE_OK;
    for (int i = 0; i < 100; i++) {
        client = NULL;
        s = rune_client_create(url, &client);
        if (s != RUNE_OK) break;
        rune_client_destroy(client);
        sleep_ms(20);
    }
    CHECK_STATUS(s, RUNE_ERROR_TRANSPORT);
    rune_string_free(url);
    CHECK_STATUS(rune_server_destroy(server), RUNE_OK);
}

/* rune_server_run on stdin/stdout (pipes here), answered, refused a second time while it
 * runs, ended by rune_server_stop from another thread, and stdin/stdout blocking again. */
static rune_status run_status;

static void *run_server(void *server) {
    run_status = rune_server_run(server);
    return NULL;
}

static void check_run_and_stop(void) {
    rune_server *server = NULL;
    CHECK_STATUS(rune_server_create("rune-test-server", "1.2.3", &server), RUNE_OK);
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) {
        CHECK(!"pipe");
        return;
    }
    fflush(stdout);
    int saved_in = dup(0), saved_out = dup(1);
    dup2(in[0], 0);
    dup2(out[1], 1);
    run_status = RUNE_ERROR_PANIC;
    pthread_t runner;
    pthread_create(&runner, NULL, run_server, server);

    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"ping\"}\n";
    CHECK(write(in[1], ping, strlen(ping)) == (ssize_t)strlen(ping));
    char answer[512] = {0};
    size_t got = 0;
    while (got < sizeof answer - 1 && !memchr(answer, '\n', got)) {
        ssize_t n = read(out[0], answer + got, sizeof answer - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    CHECK(CONTAINS(answer, "\"id\":41") && CONTAINS(answer, "\"result\""));

    CHECK_STATUS(rune_server_run(server), RUNE_ERROR_BUSY);
    pthread_t stopper;
    pthread_create(&stopper, NULL, stop_server, server);
    pthread_join(stopper, NULL);
    pthread_join(runner, NULL);
    CHECK_STATUS(run_status, RUNE_OK);
    CHECK((fcntl(0, F_GETFL) & O_NONBLOCK) == 0);
    CHECK((fcntl(1, F_GETFL) & O_NONBLOCK) == 0);

    dup2(saved_in, 0);
    dup2(saved_out, 1);
    close(saved_in);
    close(saved_out);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    CHECK_STATUS(rune_server_destroy(server), RUNE_OK);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "serve") == 0) return serve();

    check_versions();
    check_bad_input();

    /* A C client driving a C server over stdio: this very program, in serve mode. */
    char url[4200];
    snprintf(url, sizeof url, "stdio:'%s' serve", argv[0]);
    rune_client *client = NULL;
    CHECK_STATUS(rune_client_create(url, &client), RUNE_OK);
    if (client) {
        check_client(client);
        CHECK_STATUS(rune_client_destroy(client), RUNE_OK);
    }

    check_in_process();
    check_http_and_stop();
    check_run_and_stop();

    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
