/*
 * expr_internal.h - what the files of the expression language share: the
 * syntax tree (expr_parse.c builds it), the function table (expr_func.c),
 * the flat program and its instructions (expr_check.c compiles to it,
 * expr_eval.c runs it).
 */
#ifndef SL_EXPR_INTERNAL_H
#define SL_EXPR_INTERNAL_H

#include "expr.h"

#include <stdint.h>

/* ---- syntax tree ------------------------------------------------------ */

typedef enum sl__xkind {
    SL__XN_LIT,     /* lit */
    SL__XN_FIELD,   /* name = normalised path */
    SL__XN_NEG,     /* - kid */
    SL__XN_NOT,     /* NOT kid */
    SL__XN_ARITH,   /* kid op kid, op one of + - * / % */
    SL__XN_CONCAT,  /* kid || kid */
    SL__XN_CMP,     /* kid op kid, op an sl__xcmp */
    SL__XN_AND,     /* n-ary */
    SL__XN_OR,      /* n-ary */
    SL__XN_IS,      /* kid IS ..., op an sl__xis */
    SL__XN_IN,      /* x, items...; neg for NOT IN */
    SL__XN_BETWEEN, /* x, lo, hi; neg for NOT BETWEEN */
    SL__XN_LIKE,    /* s, pattern[, escape]; neg for NOT LIKE */
    SL__XN_CASE,    /* [operand] (when then)* [else]; has_operand, has_else */
    SL__XN_CAST,    /* kid; op = target sl_type */
    SL__XN_CALL,    /* args; fn = index in the function table */
} sl__xkind;

typedef enum sl__xcmp { SL__XC_EQ, SL__XC_NE, SL__XC_LT, SL__XC_LE, SL__XC_GT, SL__XC_GE } sl__xcmp;

typedef enum sl__xis {
    SL__XIS_NULL,
    SL__XIS_NOT_NULL,
    SL__XIS_TRUE,
    SL__XIS_NOT_TRUE,
    SL__XIS_FALSE,
    SL__XIS_NOT_FALSE
} sl__xis;

typedef struct sl__xnode {
    uint8_t kind;
    uint8_t neg, has_operand, has_else;
    int op;
    uint32_t pos;        /* byte offset of the node's token in the text */
    uint32_t depth;      /* 1 + the deepest child */
    sl_type type;        /* static type after checking; SL_T_MISSING = dynamic */
    int kid, last, next; /* first and last child, next sibling (indexes; -1 = none) */
    uint32_t nkids;
    sl_value lit; /* LIT (a string points into memory the tree owns) */
    char *name;   /* FIELD path, CALL name as written */
    int slot;     /* FIELD */
    int fn;       /* CALL */
    int aux;      /* CALL: index of its compiled auxiliary data, or -1 */
} sl__xnode;

/* The parser's and checker's shared state. Errors are reported once: the
 * first one wins. */
typedef struct sl__xtree {
    const char *text;
    size_t textlen;
    sl__xnode *nodes;
    size_t nnodes, cap;
    void **owned; /* allocations the compiled expression keeps (strings) */
    size_t nowned, capowned;
    char *err;
    size_t errsz;
    int failed;
} sl__xtree;

/* ---- lexer (expr_lex.c) ---------------------------------------------- */

typedef enum sl__xtok {
    SL__XT_EOF,
    SL__XT_INT,
    SL__XT_DOUBLE,
    SL__XT_STR,
    SL__XT_IDENT,
    SL__XT_QIDENT,
    SL__XT_PUNCT, /* one of ( ) [ ] , . + - * / % || = <> != < <= > >= */
} sl__xtok;

typedef enum sl__xkw {
    SL__XK_NONE,
    SL__XK_AND,
    SL__XK_OR,
    SL__XK_NOT,
    SL__XK_IN,
    SL__XK_IS,
    SL__XK_NULL,
    SL__XK_TRUE,
    SL__XK_FALSE,
    SL__XK_BETWEEN,
    SL__XK_LIKE,
    SL__XK_ESCAPE,
    SL__XK_CASE,
    SL__XK_WHEN,
    SL__XK_THEN,
    SL__XK_ELSE,
    SL__XK_END,
    SL__XK_CAST,
    SL__XK_AS,
} sl__xkw;

typedef struct sl__xlex {
    sl__xtree *t;
    size_t at;       /* next byte to scan */
    sl__xtok tok;    /* current token */
    sl__xkw kw;      /* when tok is IDENT */
    size_t pos, len; /* its bytes */
    int64_t i;       /* INT */
    double d;        /* DOUBLE */
    int is_2p63;     /* DOUBLE that was the integer 9223372036854775808 */
    unsigned depth;
} sl__xlex;

extern const char *const sl__xkw_names[];
/* Scans the next token. Returns 0 or -1 (error written). */
int sl__xnext(sl__xlex *l);
/* Describes the current token for messages: "\"tok\"" or end of text. */
void sl__xdescribe(const sl__xlex *l, char *out, size_t n);
/* Whether the current token is the punctuation p / keyword kw. */
int sl__xpunct(const sl__xlex *l, const char *p);
int sl__xat_kw(const sl__xlex *l, sl__xkw kw);
/* Consumes p / kw, or fails with "expected ..., got ...". */
int sl__xexpect(sl__xlex *l, const char *p);
int sl__xexpect_kw(sl__xlex *l, sl__xkw kw);

/* Parses tree->text; returns the root node index, or -1 with the error
 * written. */
int sl__xparse(sl__xtree *t);
/* Writes "L:C: msg\n<line>\n<caret>" for byte offset `pos` (first error
 * only). Returns -1. */
int sl__xerror(sl__xtree *t, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Keeps `p` until the compiled expression is freed (frees it and fails
 * on allocation failure). Returns p or NULL. */
void *sl__xown(sl__xtree *t, void *p);
/* A copy of n bytes (NUL-terminated) owned by the tree, or NULL. */
char *sl__xstrdup(sl__xtree *t, const char *s, size_t n);
/* The name of a type as the language spells it: BIGINT, DOUBLE, ... */
const char *sl__xtype_name(sl_type t);

/* ---- function table --------------------------------------------------- */

/* A function's implementation: args[0..n) are NULL-free unless the
 * function sets nulls_ok. Writes *out; returns 0 or an sl_xerr. */
typedef int (*sl__xfn)(sl_value *out, const sl_value *args, size_t n, sl_xscratch *s,
                       const void *aux);

typedef enum sl__xres {
    SL__XR_FIXED,  /* type */
    SL__XR_ARG0,   /* the type of the first argument */
    SL__XR_COMMON, /* the common type of all arguments, if they agree */
} sl__xres;

typedef struct sl__xfunc {
    const char *name;
    int minargs, maxargs; /* maxargs -1 = any number */
    /* One letter per argument, the last repeating: N number, I integer,
     * S string, T time (number or string), X any scalar, C comparable with
     * the other C arguments, P string literal (regexp pattern), U string
     * literal (date_trunc unit). */
    const char *args;
    sl__xres res;
    sl_type type; /* SL__XR_FIXED */
    int special;  /* 1: coalesce, 2: nullif (compiled inline, fn unused) */
    int nulls_ok; /* the implementation sees NULL arguments */
    sl__xfn fn;
} sl__xfunc;

extern const sl__xfunc sl__xfuncs[];
extern const size_t sl__xnfuncs;

/* The function named `name` (case-insensitive), or -1. */
int sl__xfunc_find(const char *name);
/* Compiles the literal argument of a P or U parameter into auxiliary data
 * (a regex_t, a unit); on error writes it via sl__xerror at `pos` and
 * returns NULL. `free_aux` is how the data is freed. */
void *sl__xfunc_aux(sl__xtree *t, int fn, const sl_value *lit, uint32_t pos,
                    void (**free_aux)(void *));

/* expr_time.c: the time functions and date_trunc's units (NULL-ended);
 * sl__xunit_find gives the unit's auxiliary data, or NULL. */
int sl__xf_date_trunc(sl_value *out, const sl_value *args, size_t n, sl_xscratch *s,
                      const void *aux);
int sl__xf_ts_ms(sl_value *out, const sl_value *args, size_t n, sl_xscratch *s, const void *aux);
extern const char *const sl__xunits[];
const int *sl__xunit_find(const char *s, size_t n);

/* ---- values shared by eval and the functions -------------------------- */

/* Room for n bytes at the end of the scratch (which may start a new block;
 * earlier strings stay where they are). NULL if allocation fails. */
char *sl__xscratch_room(sl_xscratch *s, size_t n);
/* Exact comparison of two non-NULL values of comparable types: -1, 0, 1,
 * or 2 when unordered (NaN). *ok = 0 when the types cannot be compared. */
int sl__xcompare(const sl_value *a, const sl_value *b, int *ok);
/* The text form of scalar `v` (not NULL, not OTHER) in *p / *n: a
 * string's own bytes, else written into tmp (room for 40 bytes): BIGINT in
 * decimal, DOUBLE as the shortest text that reads back the same (always
 * with a '.' or an exponent; Infinity, -Infinity, NaN), BOOLEAN as
 * true/false. */
void sl__xtext(const sl_value *v, char *tmp, const char **p, size_t *n);

/* ---- program ---------------------------------------------------------- */

typedef enum sl__xop {
    SL__XI_LOADK, /* d = k[x] */
    SL__XI_LOADF, /* d = slots[x] (MISSING reads as NULL) */
    SL__XI_MOV,   /* d = a */
    SL__XI_NEG,   /* d = -a */
    SL__XI_ADD,   /* d = a op b */
    SL__XI_SUB,
    SL__XI_MUL,
    SL__XI_DIV,
    SL__XI_MOD,
    SL__XI_CONCAT,
    SL__XI_CMP,    /* d = a <x> b, x an sl__xcmp */
    SL__XI_NOT,    /* d = NOT a */
    SL__XI_AND,    /* d = a AND b (three-valued) */
    SL__XI_OR,     /* d = a OR b */
    SL__XI_JMP,    /* goto x */
    SL__XI_JFALSE, /* if a is FALSE goto x (a must be BOOLEAN or NULL) */
    SL__XI_JTRUE,  /* if a is TRUE goto x */
    SL__XI_JNTRUE, /* if a is not TRUE goto x */
    SL__XI_JNNULL, /* if a is not NULL goto x */
    SL__XI_IS,     /* d = a IS <x>, x an sl__xis */
    SL__XI_INSTEP, /* d (FALSE/NULL so far) |= (a = b), IN's rules */
    SL__XI_LIKE,   /* d = a LIKE b, escape k[x] when x >= 0 */
    SL__XI_NULLIF, /* d = NULLIF(a, b) */
    SL__XI_CAST,   /* d = CAST(a AS x) */
    SL__XI_CALL,   /* d = fn x (a .. a+y-1), aux[b] */
} sl__xop;

typedef struct sl__xins {
    uint8_t op;
    uint16_t d, a, b;
    int32_t x, y;
} sl__xins;

#define SL__XMAX_REGS 65000

typedef struct sl__xaux {
    void *p;
    void (*free_aux)(void *);
} sl__xaux;

struct sl_xexpr {
    sl__xins *code;
    size_t ncode, capcode;
    sl_value *k; /* constants */
    size_t nk, capk;
    sl__xaux *aux;
    size_t naux;
    uint32_t nregs;
    sl_type type;
    int *slots;
    size_t nslots;
    char **paths;
    size_t npaths;
    int field_slot; /* >= 0 when the expression is a bare field */
    int is_const;
    void **owned;
    size_t nowned;
};

/* Runs code[pc, end) over `slots` (result in register 0): sl_xexpr_eval
 * and constant folding. */
int sl__xrun(const sl_xexpr *e, size_t pc, size_t end, const sl_value *slots, sl_xscratch *s,
             sl_value *out);

#endif
