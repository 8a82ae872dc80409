package validation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronField describes one field of a standard 5-field cron schedule.
type cronField struct {
	min, max int
	names    map[string]int
}

var (
	cronMonths = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	cronDays   = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
	cronFields = [5]cronField{
		{min: 0, max: 59},                    // minute
		{min: 0, max: 23},                    // hour
		{min: 1, max: 31},                    // day of month
		{min: 1, max: 12, names: cronMonths}, // month
		{min: 0, max: 6, names: cronDays},    // day of week
	}
	cronDescriptors = map[string]bool{"@yearly": true, "@annually": true, "@monthly": true,
		"@weekly": true, "@daily": true, "@midnight": true, "@hourly": true}
)

// parseCronSchedule checks a schedule the way the CronJob controller's parser
// (the de-facto standard one Kubernetes uses) accepts it: an optional
// "TZ=<zone>" or "CRON_TZ=<zone>" prefix, then either a descriptor (@hourly,
// @daily, @midnight, @weekly, @monthly, @yearly, @annually, @every <duration>)
// or five fields: minute, hour, day of month, month (1-12 or JAN-DEC), day of
// week (0-6 or SUN-SAT). A field is "*", "?", or a comma list of values,
// ranges "a-b", and steps "*/n", "a/n", "a-b/n".
func parseCronSchedule(spec string) error {
	if spec == "" {
		return fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		i := strings.Index(spec, " ")
		eq := strings.Index(spec, "=")
		if i < 0 {
			return fmt.Errorf("provided bad location %s: missing schedule", spec[eq+1:])
		}
		if _, err := time.LoadLocation(spec[eq+1 : i]); err != nil {
			return fmt.Errorf("provided bad location %s: %v", spec[eq+1:i], err)
		}
		spec = strings.TrimSpace(spec[i:])
	}
	if strings.HasPrefix(spec, "@") {
		return parseCronDescriptor(spec)
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), fields)
	}
	for i, f := range fields {
		if err := parseCronField(f, cronFields[i]); err != nil {
			return err
		}
	}
	return nil
}

func parseCronDescriptor(spec string) error {
	if cronDescriptors[spec] {
		return nil
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return fmt.Errorf("failed to parse duration %s: %v", spec, err)
		}
		if dur <= 0 {
			return fmt.Errorf("failed to parse duration %s: must be positive", spec)
		}
		return nil
	}
	return fmt.Errorf("unrecognized descriptor: %s", spec)
}

func parseCronField(f string, r cronField) error {
	for _, expr := range strings.FieldsFunc(f, func(c rune) bool { return c == ',' }) {
		if err := parseCronRange(expr, r); err != nil {
			return err
		}
	}
	if strings.HasPrefix(f, ",") || strings.HasSuffix(f, ",") || strings.Contains(f, ",,") {
		return fmt.Errorf("failed to parse int from %s: empty list element", f)
	}
	return nil
}

func parseCronRange(expr string, r cronField) error {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	singleDigit := len(lowAndHigh) == 1
	var start, end int
	var err error
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		start, end = r.min, r.max
	} else {
		if start, err = parseCronValue(lowAndHigh[0], r.names); err != nil {
			return err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = parseCronValue(lowAndHigh[1], r.names); err != nil {
				return err
			}
		default:
			return fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	switch len(rangeAndStep) {
	case 1:
	case 2:
		step, err := strconv.Atoi(rangeAndStep[1])
		if err != nil {
			return fmt.Errorf("failed to parse int from %s: %v", rangeAndStep[1], err)
		}
		if step <= 0 {
			return fmt.Errorf("step of range should be a positive number: %s", expr)
		}
		if singleDigit {
			end = r.max
		}
	default:
		return fmt.Errorf("too many slashes: %s", expr)
	}
	if start < r.min {
		return fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, r.min, expr)
	}
	if end > r.max {
		return fmt.Errorf("end of range (%d) above maximum (%d): %s", end, r.max, expr)
	}
	if start > end {
		return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	}
	return nil
}

func parseCronValue(v string, names map[string]int) (int, error) {
	if names != nil {
		if n, ok := names[strings.ToLower(v)]; ok {
			return n, nil
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %v", v, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, v)
	}
	return n, nil
}
