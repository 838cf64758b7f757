/*
 * didyoumean.h - "did you mean ...?" suggestions for misspelled names.
 *
 * Feed the candidates one by one; the closest by edit distance (optimal
 * string alignment: insert, delete, substitute, swap two neighbours; case
 * differences cost nothing extra beyond a substitution) wins if it is close
 * enough for the word's length. Control path only.
 */
#ifndef SL_DIDYOUMEAN_H
#define SL_DIDYOUMEAN_H

#include <stddef.h>

typedef struct sl_suggest {
    const char *word; /* borrowed */
    const char *best; /* borrowed from the candidates */
    size_t best_dist;
} sl_suggest;

/* Edit distance between a and b (optimal string alignment). Strings longer
 * than 63 bytes are compared on their first 63 bytes. Never fails. */
size_t sl_edit_distance(const char *a, const char *b);

/* Starts a suggestion for `word` (borrowed until the last call). */
void sl_suggest_init(sl_suggest *s, const char *word);
/* Considers `candidate` (borrowed; NULL is ignored). Ties keep the first. */
void sl_suggest_add(sl_suggest *s, const char *candidate);
/* The best candidate if it is close enough to be a likely typo, else NULL:
 * at most 1 edit for words of up to 4 bytes, 2 up to 8, 3 beyond (one
 * being a prefix of the other, of 3 bytes or more, counts as 1 edit); a
 * candidate equal to the word is never suggested. */
const char *sl_suggest_result(const sl_suggest *s);

#endif
