/* being written */
#include <stdio.h>
int main(void);
int main(void)
{
	fputs("not built yet\n", stderr);
	return 1;
}
