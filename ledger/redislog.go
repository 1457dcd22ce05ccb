package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

var redisLogOnce sync.Once

// LogRedisTo routes go-redis's internal messages, such as dial failures,
// into log instead of bare standard error lines. go-redis has one
// process-wide logger: the first call sets it, later ones do nothing.
func LogRedisTo(log *slog.Logger) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{log}) })
}

// redisLogger carries go-redis's internal messages into the JSON log.
type redisLogger struct{ log *slog.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.log.Warn("redis", "detail", fmt.Sprintf(format, v...))
}
