/* didyoumean.c - edit-distance suggestions for unknown names. */
#include "didyoumean.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define SL__DYM_MAX 63

size_t sl_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > SL__DYM_MAX)
        la = SL__DYM_MAX;
    if (lb > SL__DYM_MAX)
        lb = SL__DYM_MAX;
    /* Three rows of the DP matrix: i-2, i-1, i. */
    size_t rows[3][SL__DYM_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        rows[1][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = rows[(i + 1) % 3], *prev = rows[i % 3], *prev2 = rows[(i + 2) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t cost = ca == cb ? 0 : 1;
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return la == 0 ? lb : rows[(la + 1) % 3][lb];
}

void sl_suggest_init(sl_suggest *s, const char *word)
{
    s->word = word;
    s->best = NULL;
    s->best_dist = (size_t)-1;
}

void sl_suggest_add(sl_suggest *s, const char *candidate)
{
    if (!candidate || !s->word || strcmp(candidate, s->word) == 0)
        return;
    size_t d = sl_edit_distance(s->word, candidate);
    /* "node" for "node_id", "aggregate" for "aggregates": a prefix of at
     * least 3 bytes counts as one edit. */
    size_t lw = strlen(s->word), lc = strlen(candidate);
    size_t shorter = lw < lc ? lw : lc;
    if (d > 1 && shorter >= 3 && strncasecmp(s->word, candidate, shorter) == 0)
        d = 1;
    if (d < s->best_dist) {
        s->best_dist = d;
        s->best = candidate;
    }
}

const char *sl_suggest_result(const sl_suggest *s)
{
    if (!s->best)
        return NULL;
    size_t len = strlen(s->word);
    size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    return s->best_dist <= limit ? s->best : NULL;
}
