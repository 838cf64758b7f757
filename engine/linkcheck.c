/*
 * linkcheck.c - the main() of the per-library link checks (CMakeLists.txt):
 * each links one library whole against only the libraries it lists, so a
 * call into an unlisted library (a dependency cycle) fails the build.
 */
int main(void)
{
    return 0;
}
