/*
 * replay_driver.c - runs a libFuzzer target without libFuzzer.
 *
 *   fuzz_xxx [CORPUS_DIR] [RUNS]
 *
 * Feeds LLVMFuzzerTestOneInput every file of CORPUS_DIR (if it exists),
 * then RUNS (default 200000, or what the target sets in its optional
 * `long sl_fuzz_replay_runs` when each input is costly, or $SL_FUZZ_RUNS;
 * times $SL_FUZZ_SCALE if set) inputs derived from a fixed
 * seed: corpus entries with 1..8 mutations (bit flips, random or JSON-ish
 * bytes and tokens inserted, bytes deleted or duplicated, truncation,
 * splicing two entries), and some purely random ones. Each input is copied
 * into a buffer of exactly its size, so sanitizer builds catch any read
 * past the end. A crash or abort fails the test; the input that caused it
 * is written to ./crash-replay by the signal handler ($SL_FUZZ_SEED
 * changes the seed).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in the target: its default number of generated inputs. */
extern long sl_fuzz_replay_runs __attribute__((weak));

#define SL__MAX_INPUT 65536

typedef struct sl__input {
    uint8_t *data;
    size_t len;
} sl__input;

static uint64_t sl__state;

static uint64_t sl__rnd(void)
{
    uint64_t z = (sl__state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static size_t sl__below(size_t n)
{
    return n ? (size_t)(sl__rnd() % n) : 0;
}

static const char *const sl__tokens[] = {
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "\\u",
    "\\ud83d",
    "\\ude00",
    "\\n",
    "\\\"",
    "true",
    "false",
    "null",
    "0",
    "-",
    "1e308",
    "1e-400",
    "9223372036854775808",
    "-0",
    ".5",
    "e+",
    " ",
    "\t",
    "\r\n",
    "\xc3\xa9",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80",
    "\xff",
    "\"user\":",
    "\"ts\":",
    "\"amount\":",
    "\"a\":",
    "2024-05-01T12:00:00Z",
    "+02:00",
    "1700000000123",
    "1700000000.5",
    "\x00",
};

static const uint8_t *volatile sl__current;
static volatile size_t sl__current_len;

/* Saves the input being run, then dies with the same signal. */
static void sl__on_crash(int sig)
{
    int fd = open("crash-replay", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0 && sl__current) {
        ssize_t w = write(fd, (const void *)sl__current, sl__current_len);
        (void)w;
        close(fd);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void sl__run(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    sl__current_len = len;
    sl__current = copy;
    LLVMFuzzerTestOneInput(copy, len);
    sl__current = NULL;
    free(copy);
}

static size_t sl__mutate(uint8_t *b, size_t len, const sl__input *corpus, size_t n)
{
    int rounds = 1 + (int)sl__below(8);
    for (int r = 0; r < rounds; r++) {
        switch (sl__below(8)) {
        case 0: /* flip a bit */
            if (len)
                b[sl__below(len)] ^= (uint8_t)(1u << sl__below(8));
            break;
        case 1: /* random byte */
            if (len)
                b[sl__below(len)] = (uint8_t)sl__rnd();
            break;
        case 2:
        case 3: { /* insert a token */
            const char *t = sl__tokens[sl__below(sizeof(sl__tokens) / sizeof(sl__tokens[0]))];
            size_t tl = t[0] ? strlen(t) : 1, at = sl__below(len + 1);
            if (len + tl > SL__MAX_INPUT)
                break;
            memmove(b + at + tl, b + at, len - at);
            memcpy(b + at, t, tl);
            len += tl;
            break;
        }
        case 4: { /* delete a span */
            if (!len)
                break;
            size_t at = sl__below(len), n2 = 1 + sl__below(len - at < 8 ? len - at : 8);
            memmove(b + at, b + at + n2, len - at - n2);
            len -= n2;
            break;
        }
        case 5: { /* duplicate a span */
            if (!len)
                break;
            size_t at = sl__below(len), n2 = 1 + sl__below(len - at < 16 ? len - at : 16);
            if (len + n2 > SL__MAX_INPUT)
                break;
            memmove(b + at + n2, b + at, len - at);
            len += n2;
            break;
        }
        case 6: /* truncate */
            len = sl__below(len + 1);
            break;
        default: { /* splice: our head, another entry's tail */
            if (!n)
                break;
            const sl__input *o = &corpus[sl__below(n)];
            size_t at = sl__below(len + 1), from = sl__below(o->len + 1);
            size_t tail = o->len - from;
            if (at + tail > SL__MAX_INPUT)
                tail = SL__MAX_INPUT - at;
            memcpy(b + at, o->data + from, tail);
            len = at + tail;
            break;
        }
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    sl__input *corpus = NULL;
    size_t n = 0;
    long runs = &sl_fuzz_replay_runs ? sl_fuzz_replay_runs : 200000;
    if (getenv("SL_FUZZ_RUNS"))
        runs = atol(getenv("SL_FUZZ_RUNS"));
    if (argc > 2)
        runs = atol(argv[2]);
    if (getenv("SL_FUZZ_SCALE"))
        runs *= atol(getenv("SL_FUZZ_SCALE"));
    signal(SIGABRT, sl__on_crash);
    signal(SIGSEGV, sl__on_crash);
    signal(SIGBUS, sl__on_crash);
    signal(SIGFPE, sl__on_crash);
    sl__state = getenv("SL_FUZZ_SEED") ? strtoull(getenv("SL_FUZZ_SEED"), NULL, 0) : 20240501;

    DIR *d = argc > 1 ? opendir(argv[1]) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t *buf = malloc(SL__MAX_INPUT);
        size_t len = buf ? fread(buf, 1, SL__MAX_INPUT, f) : 0;
        fclose(f);
        if (!buf)
            continue;
        corpus = realloc(corpus, (n + 1) * sizeof(*corpus));
        corpus[n].data = buf;
        corpus[n].len = len;
        n++;
        sl__run(buf, len);
    }
    if (d)
        closedir(d);

    uint8_t *work = malloc(SL__MAX_INPUT);
    for (long i = 0; i < runs; i++) {
        size_t len;
        if (n && sl__below(10) != 0) {
            const sl__input *src = &corpus[sl__below(n)];
            memcpy(work, src->data, src->len);
            len = sl__mutate(work, src->len, corpus, n);
        } else {
            len = sl__below(64);
            for (size_t k = 0; k < len; k++)
                work[k] = (uint8_t)sl__rnd();
            len = sl__mutate(work, len, corpus, n);
        }
        sl__run(work, len);
    }
    printf("%s: %zu corpus inputs, %ld generated inputs, no failure\n", argv[0], n, runs);
    free(work);
    for (size_t i = 0; i < n; i++)
        free(corpus[i].data);
    free(corpus);
    return 0;
}
