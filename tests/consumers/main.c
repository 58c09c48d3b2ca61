/* main.c - the consumer program linked against the shared library (or whatever the build system picked). */
int consumer_check(void);

int main(void)
{
    return consumer_check();
}
