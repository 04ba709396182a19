package authz

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
)

// Index is the permission index. The zero value is not usable; call New.
// It is safe for concurrent use: decisions take a read lock and never
// allocate, updates take the write lock briefly (a group's lookup table is
// compiled before the lock is taken).
type Index struct {
	mu sync.RWMutex

	// subjects maps a canonical lower-case UUID to its set id; other holds
	// subject IDs of any other shape, exactly as given.
	subjects subjectTable
	other    map[string]uint32

	sets     []groupSet // by set id; refs == 0 marks a free slot
	freeSets []uint32
	setByKey map[string]uint32 // canonical set key -> set id

	groups      []group // by group id; name == "" marks a free slot
	freeGroups  []uint32
	groupByName map[string]uint32
}

// groupSet is one interned combination of groups.
type groupSet struct {
	groups []uint32 // sorted, distinct group ids
	key    string   // canonical key of groups, as held in setByKey
	refs   int      // subjects pointing here
}

// group is one interned group name.
type group struct {
	name    string
	table   *table // nil until SetGroup: a named group grants nothing
	inSets  int    // live sets containing this group
	defined bool   // SetGroup was called; DeleteGroup clears the slot
}

// New returns an empty index, which denies everything.
func New() *Index {
	return &Index{
		other:       make(map[string]uint32),
		sets:        []groupSet{{}}, // set id 0 is never used
		setByKey:    make(map[string]uint32),
		groupByName: make(map[string]uint32),
	}
}

// SetGroup defines group name with exactly perms, replacing whatever it
// granted before; members keep their membership. Permissions with an
// empty resource or action grant nothing and are dropped.
func (x *Index) SetGroup(name string, perms []Permission) {
	t := compile(perms)
	x.mu.Lock()
	defer x.mu.Unlock()
	gid := x.groupID(name)
	g := &x.groups[gid]
	g.table, g.defined = t, true
}

// DeleteGroup removes group name and takes it out of every subject's
// groups, so that a group created later under the same name starts
// without members.
func (x *Index) DeleteGroup(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	gid, ok := x.groupByName[name]
	if !ok {
		return
	}
	for sid := range x.sets {
		s := &x.sets[sid]
		if s.refs == 0 {
			continue
		}
		i, found := slices.BinarySearch(s.groups, gid)
		if !found {
			continue
		}
		if x.setByKey[s.key] == uint32(sid) {
			delete(x.setByKey, s.key)
		}
		s.groups = slices.Delete(slices.Clone(s.groups), i, i+1)
		s.key = setKey(s.groups)
		if _, dup := x.setByKey[s.key]; !dup {
			x.setByKey[s.key] = uint32(sid)
		}
		// An identical set may exist now; it stays a duplicate until its
		// subjects leave, which costs memory, not correctness.
	}
	x.freeGroup(gid)
}

// SetSubject makes groups the complete list of subject id's groups. Names
// the index does not know yet are kept and grant nothing until SetGroup
// defines them. A subject with no groups is kept (it exists: Has reports
// it, and its tokens stay valid for what needs no permission, such as
// userinfo) and is allowed nothing; DeleteSubject forgets it.
func (x *Index) SetSubject(id string, groups []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	old, had := x.lookup(id)
	gids := make([]uint32, 0, len(groups))
	for _, name := range groups {
		gids = append(gids, x.groupID(name))
	}
	slices.Sort(gids)
	gids = slices.Compact(gids)
	sid := x.internSet(gids)
	x.sets[sid].refs++
	if u, ok := parseUUID(id); ok {
		x.subjects.put(&u, sid)
	} else {
		x.other[strings.Clone(id)] = sid
	}
	if had {
		x.releaseSet(old)
	}
}

// DeleteSubject forgets subject id: from now on it is denied everything.
func (x *Index) DeleteSubject(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if sid, ok := x.lookup(id); ok {
		x.forget(id)
		x.releaseSet(sid)
	}
}

// Allowed reports whether subject id may do action on resource of product
// (empty: the caller names no product). It reads only memory and does not
// allocate, so /v1/authorize costs a lock and a few map lookups.
func (x *Index) Allowed(id, product, resource, action string) bool {
	if resource == "" || action == "" {
		return false
	}
	verb := verbBit(action)
	x.mu.RLock()
	defer x.mu.RUnlock()
	sid, ok := x.lookup(id)
	if !ok {
		return false
	}
	for _, gid := range x.sets[sid].groups {
		if t := x.groups[gid].table; t != nil && t.allows(product, resource, action, verb) {
			return true
		}
	}
	return false
}

// Has reports whether the index knows subject id: a user or application
// that exists in the store. A token of a deleted subject is refused by it.
func (x *Index) Has(id string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.lookup(id)
	return ok
}

// Effective lists what subject id may do: the union of its groups'
// permissions, normalised as described in the package doc (prefix split
// off into Product, actions lower-case), without duplicates, sorted by
// product, resource and action. An unknown subject has none.
func (x *Index) Effective(id string) []Permission {
	x.mu.RLock()
	defer x.mu.RUnlock()
	sid, ok := x.lookup(id)
	if !ok {
		return nil
	}
	var out []Permission
	for _, gid := range x.sets[sid].groups {
		if t := x.groups[gid].table; t != nil {
			out = t.appendPermissions(out)
		}
	}
	slices.SortFunc(out, comparePerm)
	return slices.Compact(out)
}

// Groups lists subject id's groups by name, sorted, including names that
// no SetGroup has defined yet.
func (x *Index) Groups(id string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	sid, ok := x.lookup(id)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(x.sets[sid].groups))
	for _, gid := range x.sets[sid].groups {
		out = append(out, x.groups[gid].name)
	}
	slices.Sort(out)
	return out
}

// Grow makes room for n more subjects, so that the start-up load of every
// subject from the store sizes the table once instead of rehashing (and
// briefly holding two tables) as it fills.
func (x *Index) Grow(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if need := int(float64(x.subjects.len()+n)/maxLoad) + 1; need > len(x.subjects.slots) {
		x.subjects.resize(need)
	}
}

// Len reports how many subjects and defined groups the index holds, for
// metrics and the status command.
func (x *Index) Len() (subjects, groups int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, g := range x.groups {
		if g.defined {
			groups++
		}
	}
	return x.subjects.len() + len(x.other), groups
}

// lookup finds subject id's set. Caller holds mu.
func (x *Index) lookup(id string) (uint32, bool) {
	if u, ok := parseUUID(id); ok {
		sid := x.subjects.get(&u)
		return sid, sid != 0
	}
	sid, ok := x.other[id]
	return sid, ok
}

// forget removes subject id's entry. Caller holds mu for writing.
func (x *Index) forget(id string) {
	if u, ok := parseUUID(id); ok {
		x.subjects.del(&u)
	} else {
		delete(x.other, id)
	}
}

// groupID interns name, adding an undefined group when it is new.
func (x *Index) groupID(name string) uint32 {
	if gid, ok := x.groupByName[name]; ok {
		return gid
	}
	gid := allocSlot(&x.freeGroups, &x.groups)
	x.groups[gid] = group{name: strings.Clone(name)}
	x.groupByName[x.groups[gid].name] = gid
	return gid
}

// allocSlot returns the id of a free slot of slots: the last one freed,
// or a new zero slot at the end. The caller fills it.
func allocSlot[T any](free *[]uint32, slots *[]T) uint32 {
	if n := len(*free); n > 0 {
		id := (*free)[n-1]
		*free = (*free)[:n-1]
		return id
	}
	var zero T
	*slots = append(*slots, zero)
	return uint32(len(*slots) - 1)
}

// freeGroup releases group id gid; no set may still hold it.
func (x *Index) freeGroup(gid uint32) {
	delete(x.groupByName, x.groups[gid].name)
	x.groups[gid] = group{}
	x.freeGroups = append(x.freeGroups, gid)
}

// internSet returns the id of the set holding exactly gids (sorted,
// distinct), making one when needed. The caller takes the reference.
func (x *Index) internSet(gids []uint32) uint32 {
	key := setKey(gids)
	if sid, ok := x.setByKey[key]; ok {
		return sid
	}
	sid := allocSlot(&x.freeSets, &x.sets)
	x.sets[sid] = groupSet{groups: gids, key: key}
	x.setByKey[key] = sid
	for _, gid := range gids {
		x.groups[gid].inSets++
	}
	return sid
}

// releaseSet drops one subject's reference to set sid, freeing the set
// when it was the last, and with it the undefined group names only that
// set still held.
func (x *Index) releaseSet(sid uint32) {
	s := &x.sets[sid]
	s.refs--
	if s.refs > 0 {
		return
	}
	if x.setByKey[s.key] == sid {
		delete(x.setByKey, s.key)
	}
	for _, gid := range s.groups {
		g := &x.groups[gid]
		g.inSets--
		if g.inSets == 0 && !g.defined {
			x.freeGroup(gid)
		}
	}
	*s = groupSet{}
	x.freeSets = append(x.freeSets, sid)
}

// setKey is the canonical map key of a sorted list of group ids.
func setKey(gids []uint32) string {
	b := make([]byte, 4*len(gids))
	for i, gid := range gids {
		binary.LittleEndian.PutUint32(b[4*i:], gid)
	}
	return string(b)
}

// parseUUID parses the canonical lower-case 8-4-4-4-12 form only, so two
// spellings of one UUID never name two subjects, nor one subject two
// spellings: anything else is kept as an opaque string.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := hexVal(s[i])
		lo, ok2 := hexVal(s[i+1])
		if !ok1 || !ok2 {
			return [16]byte{}, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
